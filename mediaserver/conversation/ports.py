"""What the turn engine needs from the playout side: a small protocol,
implemented by native/ (the playout buffer) and by fakes in tests. The models'
port (Speech) is mediaserver/speech.py: the inference side never imports the
conversation."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Playout(Protocol):
    @property
    def buffered(self) -> int: ...

    @property
    def free(self) -> int: ...

    def write(self, pcm: np.ndarray, utterance: int = 0) -> int: ...

    def clear(self) -> int: ...

    def played(self, utterance: int) -> int: ...

"""Text to speech: Piper (onnxruntime), synchronous text in, int16 samples out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

Device = Literal["cpu", "cuda"]


class PiperTTS:
    """A Piper voice: a directory holding voice.onnx and voice.onnx.json."""

    def __init__(self, path: Path, device: Device = "cpu", speed: float = 1.0) -> None:
        self.model = Path(path, "voice.onnx")
        self.config = Path(path, "voice.onnx.json")
        for f in (self.model, self.config):
            if not f.is_file():
                raise FileNotFoundError(f"{path}: no Piper voice ({f.name}) here")
        self.device = device
        self.speed = speed
        self._voice: Any = None

    def load(self) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        # Idle ONNX threads sleep instead of spinning: they share the cores with
        # the LLM writing the rest of the reply (the first clause is ~30% faster).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.device == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}))
        self._voice = PiperVoice(
            config=PiperConfig.from_dict(json.loads(self.config.read_text(encoding="utf-8"))),
            session=onnxruntime.InferenceSession(
                str(self.model), sess_options=options, providers=providers
            ),
        )

    @property
    def sample_rate(self) -> int:
        if self._voice is None:
            self.load()
        return int(self._voice.config.sample_rate)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """int16 chunks (one per sentence Piper finds). Blocks: call off the loop."""
        if self._voice is None:
            self.load()
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / self.speed)
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield np.asarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1)

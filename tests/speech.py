"""Test speech: real espeak-ng voices, read back as int16 arrays."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest


def speak(text: str, path: Path, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """Synthesise `text` with espeak-ng; return (int16 samples, rate)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: run `make setup` (it installs the Debian package)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return read_wav(path)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy(), w.getframerate()

"""Speech to text: faster-whisper (CTranslate2), synchronous numpy in, text out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Device = Literal["cpu", "cuda"]
RATE = 16000


@dataclass(frozen=True, slots=True)
class Transcription:
    text: str
    language: str
    seconds: float  # audio length


class WhisperSTT:
    """A Whisper model from a local CTranslate2 directory (never a size name:
    that would download from a hub)."""

    def __init__(
        self,
        path: Path,
        device: Device = "cpu",
        language: str | None = "en",
        threads: int = 0,
        beam_size: int = 5,
    ) -> None:
        if not Path(path, "model.bin").is_file():
            raise FileNotFoundError(f"{path}: no CTranslate2 Whisper model (model.bin) here")
        self.path = Path(path)
        self.device = device
        self.language = language
        self.threads = threads
        # beam 5 over greedy: +5 points of key-word recall on phone audio at about
        # the same time for tiny.en (bench.stt_accuracy); the encoder dominates
        self.beam_size = beam_size
        self._model: Any = None

    def load(self) -> None:
        from faster_whisper import WhisperModel

        compute = "int8" if self.device == "cpu" else "float16"
        self._model = WhisperModel(
            str(self.path),
            device=self.device,
            compute_type=compute,
            cpu_threads=self.threads,
            local_files_only=True,
        )

    def transcribe(
        self, audio: np.ndarray, prompt: str | None = None, language: str | None = None
    ) -> Transcription:
        """Transcribe int16 or float32 mono audio at 16 kHz. Blocks: call off the loop."""
        if self._model is None:
            self.load()
        if audio.dtype == np.int16:
            audio = audio.astype(np.float32) / 32768.0
        if audio.dtype != np.float32 or audio.ndim != 1:
            raise TypeError("audio: expected 1-D int16 or float32 samples at 16 kHz")
        segments, info = self._model.transcribe(
            audio,
            language=language or self.language,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=prompt,
        )
        # The generator does the decoding: consume it here, in the worker thread.
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcription(text, info.language, audio.size / RATE)

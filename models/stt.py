"""Speech to text: faster-whisper (CTranslate2), synchronous numpy in, text out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Device = Literal["cpu", "cuda"]
RATE = 16000
WINDOW_SECONDS = 30  # Whisper's
MAX_TOKENS = 200  # far more than a short window's speech
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Transcription:
    text: str
    language: str
    seconds: float  # audio length


def without_repeats(text: str) -> str:
    """`text` without a sentence that repeats the one before it. A small
    Whisper often writes a short clip twice or more ("Okay. Okay."), more so
    when primed with a prompt; a caller who does say it twice loses nothing."""
    kept: list[str] = []
    for sentence in _SENTENCE.split(text):
        if not kept or sentence.lower() != kept[-1].lower():
            kept.append(sentence)
    return " ".join(kept)


class WhisperSTT:
    """A Whisper model from a local CTranslate2 directory (never a size name:
    that would download from a hub)."""

    def __init__(
        self,
        path: Path,
        device: Device = "cpu",
        *,
        language: str | None = "en",
        threads: int = 0,
        beam_size: int = 5,
        window_seconds: int = 10,
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
        # Whisper pads every input to a 30 s window. A caller's utterance of a
        # few seconds encoded in a 10 s window costs a sixth of the time and
        # catches about as many key words (bench.stt_accuracy); 30: Whisper's own.
        if not 1 <= window_seconds <= WINDOW_SECONDS:
            raise ValueError(f"window_seconds: expected 1..{WINDOW_SECONDS}")
        self.window_seconds = window_seconds
        self._model: Any = None
        self._tokenizers: dict[str | None, Any] = {}
        self._suppressed: list[int] = []

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
        audio = _as_float(audio)
        language = language or self.language
        seconds = audio.size / RATE
        if self.window_seconds < WINDOW_SECONDS and seconds < self.window_seconds and language:
            text = self._decode_window(audio, language, prompt)
            return Transcription(without_repeats(text), language, seconds)
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=prompt,
        )
        # The generator does the decoding: consume it here, in the worker thread.
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcription(without_repeats(text), info.language, seconds)

    def transcribe_many(
        self, requests: Sequence[tuple[np.ndarray, str | None, str | None]]
    ) -> list[Transcription]:
        """Several (audio, prompt, language) at once: the utterances short
        enough for the window are encoded and decoded as one batch (one pass
        of the encoder over all of them); the others one by one. Blocks."""
        if self._model is None:
            self.load()
        results: list[Transcription | None] = [None] * len(requests)
        batch: list[tuple[int, np.ndarray, str, str | None]] = []
        for i, (given, prompt, asked) in enumerate(requests):
            audio, language = _as_float(given), asked or self.language
            if (
                self.window_seconds < WINDOW_SECONDS
                and audio.size < self.window_seconds * RATE
                and language
            ):
                batch.append((i, audio, language, prompt))
            else:
                results[i] = self.transcribe(audio, prompt, language)
        if batch:
            texts = self._decode_windows([(a, lang, p) for _, a, lang, p in batch])
            for (i, audio, language, _), text in zip(batch, texts, strict=True):
                results[i] = Transcription(without_repeats(text), language, audio.size / RATE)
        return [r for r in results if r is not None]

    def _decode_window(self, audio: np.ndarray, language: str, prompt: str | None) -> str:
        """One utterance, encoded in a window of window_seconds, decoded without timestamps."""
        return self._decode_windows([(audio, language, prompt)])[0]

    def _decode_windows(self, items: list[tuple[np.ndarray, str, str | None]]) -> list[str]:
        """Utterances decoded in batches: CTranslate2 wants the start token at
        the same place in every item of a batch, so items are grouped by the
        length of their prompt (the calls of one agent share theirs)."""
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        prompts, tokenizers = [], []
        for _, language, prompt in items:
            tokenizer = self._tokenizer(language)
            tokens = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
            if prompt:
                tokens = [
                    tokenizer.sot_prev,
                    *tokenizer.encode(" " + prompt.strip())[-200:],
                    *tokens,
                ]
            prompts.append(tokens)
            tokenizers.append(tokenizer)
        groups: dict[int, list[int]] = {}
        for i, tokens in enumerate(prompts):
            groups.setdefault(len(tokens), []).append(i)
        texts = [""] * len(items)
        for length, members in groups.items():
            features = np.stack(
                [
                    pad_or_trim(
                        self._model.feature_extractor(items[i][0]), self.window_seconds * 100
                    )
                    for i in members  # 100 frames a second
                ]
            )
            results = self._model.model.generate(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
                [prompts[i] for i in members],
                beam_size=self.beam_size,
                max_length=length + MAX_TOKENS,
                suppress_blank=True,
                suppress_tokens=self._suppressed,
            )
            for i, result in zip(members, results, strict=True):
                texts[i] = str(tokenizers[i].decode(result.sequences_ids[0])).strip()
        return texts

    def _tokenizer(self, language: str) -> Any:
        if (tokenizer := self._tokenizers.get(language)) is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            tokenizer = Tokenizer(
                self._model.hf_tokenizer,
                self._model.model.is_multilingual,
                task="transcribe",
                language=language,
            )
            self._tokenizers[language] = tokenizer
            self._suppressed = list(get_suppressed_tokens(tokenizer, [-1]))
        return tokenizer


def _as_float(audio: np.ndarray) -> np.ndarray:
    if audio.dtype == np.int16:
        audio = audio.astype(np.float32) / 32768.0
    if audio.dtype != np.float32 or audio.ndim != 1:
        raise TypeError("audio: expected 1-D int16 or float32 samples at 16 kHz")
    return audio

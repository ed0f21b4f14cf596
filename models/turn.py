"""Smart Turn v3.2: is the caller's turn finished? (onnxruntime, numpy in and out)

The model hears the last 8 s of the caller's audio (16 kHz; shorter audio is
padded at the front) as Whisper log-mel features and answers the probability
that the speaker has finished. BSD-2-Clause (Daily): LICENSE beside the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.store import ModelError
from models.whisper_features import compute_whisper_log_mel_features

RATE = 16000
WINDOW_SECONDS = 8


class SmartTurn:
    def __init__(self, directory: Path, threads: int = 1) -> None:
        self.path = directory / "model.onnx"
        self.threads = threads
        self._session: Any = None

    def load(self) -> None:
        """Open the model (about 0.1 s); ModelError if onnxruntime cannot read it."""
        if self._session is not None:
            return
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = self.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise ModelError(
                f"{self.path} cannot be loaded ({exc}); install it again with "
                "`python -m models install smart-turn-v3.2`"
            ) from None

    def probability(self, audio: np.ndarray) -> float:
        """P(turn finished) for the caller's audio so far (int16 or float, 16 kHz). Blocking."""
        if self._session is None:
            raise RuntimeError("SmartTurn.load() first")
        x = np.asarray(audio)
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        size = RATE * WINDOW_SECONDS
        x = x[-size:] if x.size > size else np.pad(x, (size - x.size, 0))
        features = compute_whisper_log_mel_features(x, do_normalize=True)[np.newaxis]
        (out,) = self._session.run(None, {"input_features": features})[:1]
        return float(np.asarray(out).reshape(-1)[0])

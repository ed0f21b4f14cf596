"""Language model: llama.cpp via llama-cpp-python, synchronous token stream."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any, Literal

from models.llm_reply import KvStates, Reply

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
        saved_states_mb: int = 256,
    ) -> None:
        """`prompt_lookup_tokens` > 0: speculative decoding with drafts of that
        many tokens copied from the prompt (llama.cpp's prompt lookup; an answer
        read out of the agent's facts is mostly copies). `saved_states_mb`:
        KV-cache states kept for calls whose turns alternate (models/llm_reply.py)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{path}: no GGUF model file here")
        self.device = device
        self.context_tokens = context_tokens
        self.threads = threads or max(1, (os.cpu_count() or 2))
        self.seed = seed
        self.prompt_lookup_tokens = prompt_lookup_tokens
        self.saved_states_mb = saved_states_mb
        self._llm: Any = None
        self._template: Any = None
        self.states: KvStates | None = None

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
        self._template = self._chat_template()
        self.states = KvStates(self._llm, self.saved_states_mb * 1024 * 1024)

    def _chat_template(self) -> Any:
        """The GGUF's own chat template, rendered as create_chat_completion would."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._llm
        template = llm.metadata.get("tokenizer.chat_template")
        if template is None:
            raise ValueError(f"{self.path}: the GGUF carries no chat template")

        def text(token: int) -> str:
            return str(llm._model.token_get_text(token)) if token != -1 else ""

        return Jinja2ChatFormatter(template, text(llm.token_eos()), text(llm.token_bos()))

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
        yield from self.reply(messages, max_tokens, temperature, tools)

    def reply(
        self,
        messages: list[Message],
        max_tokens: int = 120,
        temperature: float = 0.0,
        tools: list[dict[str, Any]] | None = None,
    ) -> Reply:
        """A reply that can be paused and taken up again (see Reply)."""
        if self._llm is None:
            self.load()
        assert self.states is not None
        # the GGUF's chat template renders the tools (Qwen2.5's does)
        prompt = self._template(messages=messages, tools=tools or None).prompt
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        return Reply(
            self._llm,
            self.states,
            tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=self.seed,
        )

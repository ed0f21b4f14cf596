"""A reply written token by token that can stop and go on later, and the
KV-cache states that make going on (and a call's next turn) cheap.

llama.cpp holds one sequence in its KV cache. A server answering many calls
with one model would otherwise re-read a call's whole conversation each time
another call's reply came in between: a state saved when a reply stops
(finished, paused or cancelled) is put back when that call's tokens come
again, so only the new tokens are read. A state is the KV cells in use (for
Qwen2.5 0.5B about 12 KB a token), copied in a few milliseconds.
"""

from __future__ import annotations

import codecs
import ctypes
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np


class KvStates:
    """Saved KV-cache states by the tokens they hold, least recently used
    dropped past `budget_bytes`."""

    def __init__(self, llm: Any, budget_bytes: int) -> None:
        self._llm = llm  # a llama_cpp.Llama
        self.budget_bytes = budget_bytes
        self._saved: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._bytes = 0
        self.restored = 0  # how many times a saved state was put back

    def save(self) -> None:
        """Keep the state the model is in now (nothing when it holds no tokens)."""
        import llama_cpp

        llm = self._llm
        tokens = tuple(llm.input_ids[: llm.n_tokens].tolist())
        if not tokens or self.budget_bytes <= 0:
            return
        size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
        data = ctypes.string_at(buffer, written)
        if tokens in self._saved:
            self._bytes -= len(self._saved.pop(tokens))
        self._saved[tokens] = data
        self._bytes += len(data)
        while self._bytes > self.budget_bytes and self._saved:
            self._bytes -= len(self._saved.popitem(last=False)[1])

    def restore_for(self, tokens: list[int]) -> None:
        """Put back the saved state sharing the longest start with `tokens`,
        where it shares more than the model holds now."""
        import llama_cpp

        llm = self._llm
        wanted = np.asarray(tokens)
        best, best_len = None, _common(llm.input_ids[: llm.n_tokens], wanted)
        for key in self._saved:
            if len(key) > best_len and (n := _common(np.asarray(key), wanted)) > best_len:
                best, best_len = key, n
        if best is None:
            return
        data = self._saved.pop(best)
        self._saved[best] = data  # most recently used
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(data)) != len(data):
            raise RuntimeError("llama.cpp refused a saved state")
        llm.input_ids[: len(best)] = best
        llm.n_tokens = len(best)
        self.restored += 1


def _common(held: np.ndarray, tokens: np.ndarray) -> int:
    """How many tokens the two sequences share from the start."""
    n = min(len(held), len(tokens))
    if n == 0:
        return 0
    differ = np.flatnonzero(held[:n] != tokens[:n])
    return int(differ[0]) if differ.size else n


class Reply:
    """One reply, as text pieces. Iterate to write it; stop iterating (close
    the iterator) to pause: iterating again goes on where it stopped, the
    tokens written so far kept (with the KV state saved meanwhile, the model
    re-reads nothing). `done`: it ended (end of turn or max_tokens)."""

    def __init__(
        self,
        llm: Any,
        states: KvStates,
        prompt: list[int],
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> None:
        self._llm = llm
        self._states = states
        self.tokens = list(prompt)  # the prompt, then every token written
        self.written = 0
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.done = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def __iter__(self) -> Iterator[str]:
        import llama_cpp

        llm = self._llm
        if self.done:
            return
        if len(self.tokens) >= llm.n_ctx():
            raise ValueError(
                f"Requested tokens ({len(self.tokens)}) exceed context window of {llm.n_ctx()}"
            )
        self._states.restore_for(self.tokens)
        llm.set_seed(self.seed)
        tokens = llm.generate(
            self.tokens,
            temp=self.temperature,
            top_k=40,
            top_p=0.95,
            min_p=0.05,
            repeat_penalty=1.0,
        )  # the sampling create_chat_completion uses by default
        try:
            for token in tokens:
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    self.done = True
                    break
                self.tokens.append(int(token))
                self.written += 1
                piece = self._decoder.decode(llm.detokenize([token]))
                if piece:
                    yield piece
                if self.written >= self.max_tokens or len(self.tokens) >= llm.n_ctx():
                    self.done = True
                    break
        finally:
            tokens.close()
            self._states.save()

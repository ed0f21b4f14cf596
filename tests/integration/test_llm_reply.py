"""The real bundled LLM (Qwen2.5 0.5B, llama.cpp): a reply paused while
another call's reply is written goes on to the same words it would have
written unpaused, from its saved KV state (nothing re-read); a call's next
turn after another call's finds its conversation saved; and the prompt is
the one llama-cpp-python's own chat completion renders, tools included."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest

from mediaserver.agents import DEFAULT_AGENT
from models import registry, store
from models.llm import LlamaLLM

pytestmark = pytest.mark.integration

SYSTEM = {"role": "system", "content": DEFAULT_AGENT.system_prompt}
ANNA = [SYSTEM, {"role": "user", "content": "What are your opening hours on Saturday?"}]
BOB = [SYSTEM, {"role": "user", "content": "Can I bring my child to a cleaning appointment?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "book",
        "description": "Book an appointment.",
        "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def llm() -> LlamaLLM:
    path = store.locate(registry.by_name(DEFAULT_AGENT.llm_model)) / "model.gguf"
    return LlamaLLM(Path(path), threads=2)


def test_a_paused_reply_goes_on_with_the_same_words_from_its_saved_state(llm: LlamaLLM) -> None:
    whole = "".join(llm.stream(ANNA, max_tokens=40))
    other = "".join(llm.stream(BOB, max_tokens=40))

    reply = llm.reply(ANNA, max_tokens=40)
    pieces = iter(reply)
    start = "".join(islice(pieces, 6))
    pieces.close()  # paused
    assert not reply.done and reply.written == 6
    assert "".join(llm.stream(BOB, max_tokens=40)) == other  # another call in between
    assert llm.states is not None
    restored = llm.states.restored
    rest = "".join(reply)
    assert start + rest == whole
    assert reply.done
    assert llm.states.restored == restored + 1  # its state put back, its tokens not re-read


def test_a_calls_next_turn_finds_its_conversation_saved(llm: LlamaLLM) -> None:
    answer = "".join(llm.stream(ANNA, max_tokens=24))
    "".join(llm.stream(BOB, max_tokens=24))  # another call's turn in between
    assert llm.states is not None
    restored = llm.states.restored
    follow_up = [*ANNA, {"role": "assistant", "content": answer}]
    follow_up.append({"role": "user", "content": "And on Sunday?"})
    reply = llm.reply(follow_up, max_tokens=8)
    assert "".join(reply).strip()
    assert llm.states.restored == restored + 1


def test_the_prompt_is_the_one_llama_cpp_renders_with_tools(llm: LlamaLLM) -> None:
    ours = "".join(llm.stream(ANNA, max_tokens=24, tools=[TOOL]))
    assert llm._llm is not None
    chunks = llm._llm.create_chat_completion(
        messages=ANNA, tools=[TOOL], max_tokens=24, temperature=0.0, seed=llm.seed, stream=True
    )
    theirs = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert ours == theirs


def test_a_prompt_past_the_context_window_is_a_clear_error(llm: LlamaLLM) -> None:
    long = [SYSTEM, {"role": "user", "content": "word " * (llm.context_tokens + 10)}]
    with pytest.raises(ValueError, match="exceed context window"):
        "".join(llm.stream(long, max_tokens=4))

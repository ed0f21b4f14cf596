from mediaserver.agents import DEFAULT_AGENT, from_spec


def test_a_stored_agent_has_the_builtin_vocabulary_only_with_the_builtin_prompt() -> None:
    assert from_spec("a", {}).stt_prompt == DEFAULT_AGENT.stt_prompt
    assert from_spec("b", {"stt_prompt": None}).stt_prompt == DEFAULT_AGENT.stt_prompt
    assert from_spec("c", {"system_prompt": "You sell bikes."}).stt_prompt == ""
    bikes = {"system_prompt": "You sell bikes.", "stt_prompt": "Acme e-bikes"}
    assert from_spec("d", bikes).stt_prompt == "Acme e-bikes"
    assert from_spec("e", {"stt_prompt": ""}).stt_prompt == ""

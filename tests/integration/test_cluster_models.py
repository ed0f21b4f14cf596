"""A cluster with real models: the supervisor's inference role holds the one
copy of them, and a call through the Kamailio edge is answered from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster import start_cluster, stop_cluster
from tests.integration.test_sip import caller, question_wav, words

pytestmark = pytest.mark.integration


def test_a_call_through_the_edge_is_answered_by_the_one_inference_service(tmp_path: Path) -> None:
    srv = start_cluster(tmp_path, 2, env={"MEDIASERVER_FAKE_SPEECH": "0"})
    try:
        log = srv.log.read_text(errors="replace")
        assert "inference started" in log
        # both workers ask the service; neither loads models of its own
        assert log.count("models over HTTP") == 2, log[-3000:]
        assert "loading models" not in log
        question = question_wav(tmp_path, "What time do you open on Saturday?")
        result = caller(
            "--to", srv.uri, "--play", str(question), "--play-at", "5.5", "--seconds", "22"
        )
        assert result["connected"]
        record = srv.newest_call()
        turns = record["turns"]
        assert isinstance(turns, list)
        assert turns[0]["speaker"] == "agent" and "Riverside" in turns[0]["text"]
        asked = [i for i, t in enumerate(turns) if t["speaker"] == "caller"]
        assert asked and {"saturday"} & words(turns[asked[0]]["text"]), turns
        answers = [t for t in turns[asked[0] :] if t["speaker"] == "agent" and t["text"]]
        assert answers, turns  # answered by the service's LLM and voiced by its TTS
        assert record["worker"] in ("w1", "w2")
    finally:
        assert stop_cluster(srv) == 0

"""The cluster's pieces without processes: its config, the edge's generated
files (checked by Kamailio itself), and the store closing one worker's calls."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mediaserver.cluster import kamailio_cfg
from mediaserver.cluster.inference_role import workers_config
from mediaserver.cluster.proto import WorkerAddress
from mediaserver.config import ConfigError, ModelsConfig, load
from mediaserver.modelset import model_set
from mediaserver.services.factory import local_speech
from mediaserver.store import Store
from models.store import ModelError

WORKERS = (
    WorkerAddress("w1", "127.0.0.1", 5071, 6001),
    WorkerAddress("w2", "127.0.0.1", 5072, 6002),
)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cluster]\nworkers = -1\n", "cluster.workers: expected 0..64"),
        ("[cluster]\nworkers = 2\ncalls_per_worker = 5\n", "cluster.calls_per_worker"),
        ("[cluster]\ntls_port = 5061\n", "cluster.tls_port: SIP over TLS needs"),
        ("[cluster]\nworker_port = 80\n", "cluster.worker_port"),
        ('[cluster]\nmedia_address = "0.0.0.0"\n', "cluster.media_address: must be"),
        ('[cluster]\nmedia_address = "box"\n', "cluster.media_address: 'box' is not"),
        ('[cluster]\nworkers = "many"\n', "cluster.workers: expected int"),
    ],
)
def test_a_bad_cluster_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load(write_toml(tmp_path, text))


def test_the_cluster_is_off_by_default() -> None:
    assert load().cluster.workers == 0


def kamailio_check(cfg: Path) -> subprocess.CompletedProcess[str]:
    """`kamailio -c`: Kamailio parses the config and loads its modules, then exits."""
    return subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )


def test_the_edge_config_is_what_kamailio_accepts(tmp_path: Path) -> None:
    config = load(
        write_toml(
            tmp_path,
            '[sip]\nallow = ["198.51.100.0/24", "2001:db8::1"]\n'
            "[cluster]\nworkers = 2\ninvites_per_second = 7\npike_requests = 33\n",
        )
    )
    files = kamailio_cfg.write(config, WORKERS, tmp_path / "edge")
    checked = kamailio_check(files.config)
    assert checked.returncode == 0, checked.stderr[-3000:]
    text = files.config.read_text()
    assert "> 7)" in text and '"reqs_density_per_unit", 33' in text
    assert (tmp_path / "edge" / "address.list").read_text().splitlines()[1:] == [
        "1 198.51.100.0 24 0",
        "1 2001:db8::1 128 0",
    ]
    assert (tmp_path / "edge" / "dispatcher.list").read_text().splitlines()[1:] == [
        "1 sip:127.0.0.1:5071 0 0 duid=w1;maxload=4",
        "1 sip:127.0.0.1:5072 0 0 duid=w2;maxload=4",
    ]


def test_the_edge_terminates_tls_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=edge.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
    )
    config = load(
        write_toml(
            tmp_path,
            f'[cluster]\nworkers = 2\ntls_port = 5061\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
        )
    )
    files = kamailio_cfg.write(config, WORKERS, tmp_path / "edge")
    checked = kamailio_check(files.config)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "listen=tls:127.0.0.1:5061" in files.config.read_text()
    assert f"certificate = {cert}" in (tmp_path / "edge" / "tls.cfg").read_text()


def test_only_the_dead_workers_calls_are_closed_as_unclean(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        ids = {
            worker: store.call_created(
                transport="sip", direction="inbound", agent="default", worker=worker
            )
            for worker in ("w1", "w2", "")
        }
        assert store.close_unclean("w1") == 1
        assert store.get_call(ids["w1"])["end_reason"] == "unclean"  # type: ignore[index]
        assert store.get_call(ids["w2"])["ended_at"] is None  # type: ignore[index]
        assert store.get_call(ids["w2"])["worker"] == "w2"  # type: ignore[index]
        assert store.close_unclean() == 2  # at a cluster's start: every open call
    finally:
        store.close()


def test_registration_trunks_are_registered_by_the_edge(tmp_path: Path) -> None:
    config = load(
        write_toml(
            tmp_path,
            '[[sip.trunks]]\nname = "carrier"\nregistrar = "sip:127.0.0.5:5099"\n'
            'username = "alice"\npassword = "pa:ss"\n[cluster]\nworkers = 2\n',
        )
    )
    files = kamailio_cfg.write(config, WORKERS, tmp_path / "edge")
    checked = kamailio_check(files.config)
    assert checked.returncode == 0, checked.stderr[-3000:]
    row = (tmp_path / "edge" / "db" / "uacreg").read_text().splitlines()[1]
    assert row == (
        "1:carrier:carrier:127.0.0.1:alice:127.0.0.5\\:5099:127.0.0.5:alice:pa\\:ss::"
        "sip\\:127.0.0.5\\:5099:300:0:0::"
    )
    # calls from the registrar are the trunk's: the ACL lets its address in
    assert "1 127.0.0.5 32 0" in (tmp_path / "edge" / "address.list").read_text()


def test_the_deployment_example_is_a_valid_cluster_config() -> None:
    config = load(Path(__file__).resolve().parents[2] / "deploy" / "cluster.toml")
    assert config.cluster.workers == 8 and config.store_url.startswith("postgresql://")
    # the LLM is compose.yaml's vLLM; the inference role keeps STT and TTS
    assert config.models.llm_elsewhere
    assert config.models.llm_url == "http://127.0.0.1:8000/v1"
    workers = workers_config(config).models
    assert workers.backend == "remote" and workers.llm_url == config.models.llm_url
    assert workers.endpoint("stt") == f"http://127.0.0.1:{config.inference.port}/v1"
    assert workers.endpoint("llm") == "http://127.0.0.1:8000/v1" and not workers.llm_elsewhere


def test_a_single_process_refuses_an_llm_it_would_not_use(tmp_path: Path) -> None:
    models = ModelsConfig(llm="Qwen/Qwen2.5-1.5B-Instruct", llm_url="http://127.0.0.1:9/v1")
    assert model_set(models).llm is None  # the name is vLLM's, never looked up here
    with pytest.raises(ModelError, match="a single process loads its own LLM"):
        local_speech(models)
    assert ModelsConfig().llm_elsewhere is False
    remote = ModelsConfig(backend="remote", url="http://127.0.0.1:9/v1", llm_url="http://x:1/v1")
    assert remote.llm_elsewhere is False

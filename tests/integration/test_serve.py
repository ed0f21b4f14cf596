"""`mediaserver serve` as a real process on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mediaserver", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 90.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early: {proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server did not come up within {timeout:.0f} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nhttp_port = 1\ndata_dir = "{tmp_path / "data"}"\n'
    )
    proc = start("serve", "--config", str(config), "--http-port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


def test_healthz_answers_and_flags_override_the_file(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    base, _ = server
    reply = httpx.get(f"{base}/healthz")
    assert reply.status_code == 200 and reply.json()["status"] == "ok"


def test_sigterm_stops_the_server_cleanly(server: tuple[str, subprocess.Popen[str]]) -> None:
    _, proc = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_malformed_http_gets_an_error_and_the_server_lives_on(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    for garbage in (
        b"\x00\xff\x13garbage\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET " + b"a" * 70000 + b"\r\n\r\n",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(garbage)
            try:
                answer = s.recv(1024)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
    assert httpx.get(f"{base}/nope").status_code == 404
    assert httpx.post(f"{base}/healthz", content=b"{").status_code == 405
    assert httpx.get(f"{base}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--http-port", "70000"], "server.http_port: expected 0..65535"),
        (["serve", "--config", "/nonexistent.toml"], "no such file"),
        (["serve", "--http-port", "eighty"], "invalid int value"),
        (["frobnicate"], "invalid choice"),
        (["serve", "--config", "MODELS_ELSEWHERE"], "python -m models install whisper-tiny.en"),
        (["serve", "--config", "LLM_ELSEWHERE"], "a single process loads its own LLM"),
        ([], "required: command"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(
    args: list[str], message: str, tmp_path: Path
) -> None:
    if "MODELS_ELSEWHERE" in args:
        config = tmp_path / "c.toml"
        config.write_text(f'[models]\ndir = "{tmp_path / "none"}"\n')
        args = [str(config) if a == "MODELS_ELSEWHERE" else a for a in args]
    if "LLM_ELSEWHERE" in args:  # the LLM another server's, and no cluster to use it
        config = tmp_path / "c.toml"
        config.write_text('[models]\nllm_url = "http://127.0.0.1:9/v1"\n')
        args = [str(config) if a == "LLM_ELSEWHERE" else a for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "mediaserver", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_a_taken_port_is_reported_not_hung(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mediaserver",
                "serve",
                "--http-port",
                str(port),
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert proc.returncode == 1
    assert "could not listen" in proc.stderr


def test_no_extensions_switch_selects_the_references() -> None:
    code = "import native.g711 as g; print(g._kernel.__name__)"
    env = {**os.environ, "MEDIASERVER_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "native._g711_ref"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "native._g711"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediaserver", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    from mediaserver.store import Store
    from mediaserver.tokens import verify

    data = ["--data-dir", str(tmp_path / "data")]
    made = cli("keys", "create", "--role", "viewer", "--name", "grafana", *data)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("msk_")
    listed = cli("keys", "list", *data)
    key_id = key.split("_")[1]
    assert key_id in listed.stdout and "viewer" in listed.stdout and key not in listed.stdout
    assert cli("keys", "revoke", key_id, *data).returncode == 0
    assert cli("keys", "revoke", key_id, *data).returncode == 1  # already revoked
    assert "revoked" in cli("keys", "list", *data).stdout
    assert cli("keys", "create", "--role", "root", *data).returncode == 2
    token = cli("tokens", "create", "--agent", "sales", "--ttl", "60", *data).stdout.strip()
    secret = (tmp_path / "data" / "call_token_secret").read_text().strip()  # 0600, not the store
    assert verify(secret, token).agent == "sales"
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'mediaserver.db'}")
    assert store.pop_setting("call_token_secret") is None
    assert cli("tokens", "create", "--ttl", "1", *data).returncode == 2


def test_a_bad_store_url_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[api]\nstore_url = "mysql://nope"\n')
    result = cli("serve", "--config", str(config))
    assert result.returncode == 2 and "api.store_url" in result.stderr
    config.write_text('[api]\nstore_url = "postgresql://nobody@127.0.0.1:1/none"\n')
    result = cli("keys", "list", "--config", str(config))
    assert result.returncode == 2 and "cannot open the store" in result.stderr

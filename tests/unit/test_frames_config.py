from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import Config, ConfigError, load
from mediaserver.frames import AudioFrame


def test_frame_owns_read_only_samples_and_knows_its_span() -> None:
    buf = np.arange(320, dtype=np.int16)
    frame = AudioFrame.copy_of(buf, 16000, position=640)
    buf[0] = 99
    assert frame.samples[0] == 0
    assert frame.duration == 0.02 and frame.end == 960
    with pytest.raises(ValueError):
        frame.samples[0] = 1


def test_frame_from_bytes_reads_little_endian_pcm_and_refuses_odd_lengths() -> None:
    frame = AudioFrame.from_bytes(b"\x01\x00\xff\xff\x00\x80", 8000, 160)
    assert frame.samples.tolist() == [1, -1, -32768] and frame.position == 160
    with pytest.raises(ValueError, match="3 bytes is not a whole number"):
        AudioFrame.from_bytes(b"\x00\x01\x02", 8000)
    with pytest.raises(TypeError, match="data: expected bytes"):
        AudioFrame.from_bytes("abcd", 8000)  # type: ignore[arg-type]


def test_frame_from_float_clips_and_rejects_nan() -> None:
    frame = AudioFrame.from_float(np.array([0.0, 0.5, 2.0, -2.0]), 8000)
    assert frame.samples.tolist() == [0, 16384, 32767, -32767]
    for bad in (np.array([0.0, np.nan]), np.array([np.inf])):
        with pytest.raises(ValueError, match="NaN or infinite"):
            AudioFrame.from_float(bad, 8000)
    with pytest.raises(TypeError):
        AudioFrame.from_float(np.zeros(4, np.int16), 8000)


@pytest.mark.parametrize(
    ("samples", "rate", "position"),
    [
        (np.zeros(10, np.float32), 8000, 0),
        (np.zeros((2, 10), np.int16), 8000, 0),
        (np.zeros(10, np.int16), 0, 0),
        (np.zeros(10, np.int16), 8000, -1),
        (b"\x00\x00", 8000, 0),
    ],
)
def test_frame_refuses_bad_fields(samples: object, rate: int, position: int) -> None:
    with pytest.raises((TypeError, ValueError)):
        AudioFrame(samples, rate, position)  # type: ignore[arg-type]


def test_defaults_then_file_then_overrides(tmp_path: Path) -> None:
    assert load() == Config()
    path = tmp_path / "c.toml"
    path.write_text(
        '[server]\nhttp_port = 9000\nhost = "::1"\n[vad]\nend_ms = 800\ngate_margin_db = 6\n'
    )
    config = load(path, {"server": {"http_port": 9100, "host": None}})
    assert config.server.http_port == 9100 and config.server.host == "::1"
    assert config.vad.end_ms == 800 and config.vad.gate_margin_db == 6.0
    assert config.jitter == Config().jitter


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server\n", "not valid TOML"),
        ("server = 1\n", "server: expected a table"),
        ("[sever]\n", "sever: unknown key"),
        ("[server]\nport = 1\n", "server.port: unknown key"),
        ('[server]\nhttp_port = "80"\n', "server.http_port: expected int, got str"),
        ("[server]\nhttp_port = 70000\n", "server.http_port: expected 0..65535"),
        ("[server]\nhttp_port = true\n", "server.http_port: expected int, got bool"),
        ("[vad]\nmode = 7\n", "vad.mode: expected 0..3"),
        ("[vad]\nmin_utterance_ms = 5000\nmax_utterance_ms = 1000\n", "vad.min_utterance_ms"),
        ("[vad]\nspeculate_ms = 600\n", "vad.speculate_ms: expected 0 .off. up to below"),
        ("[vad]\nspeculate_ms = -20\n", "vad.speculate_ms"),
        ("[jitter]\nmin_delay_ms = 500\n", "jitter: expected 20 <= min_delay_ms"),
        ('[models]\nbackend = "cloud"\n', 'models.backend: expected "local" or "remote"'),
        ('[models]\nbackend = "remote"\n', "backend .remote. needs models.url or models.stt_url"),
        (
            '[models]\nbackend = "remote"\nstt_url = "http://a/v1"\ntts_url = "http://a/v1"\n',
            "needs models.url or models.llm_url",
        ),
        (
            '[models]\nurl = "127.0.0.1:8081"\n',
            "models.url: .* expected an http:// or https:// URL",
        ),
        ("[models]\ntimeout_seconds = 0\n", "models.timeout_seconds: expected 0.5..600"),
        ("[inference]\nllm_queue = 0\n", "inference.llm_queue: expected 1..10000"),
        ("[inference]\nstt_batch = 100\n", "inference.stt_batch: expected 1..64"),
        ("\xff\xfe", "not valid TOML"),
        ('[twilio]\nauth_token = "x"\n', "twilio: set both auth_token and public_url"),
        ('[twilio]\nauth_token = "x"\npublic_url = "wss://a.example"\n', "twilio.public_url"),
        ('[twilio]\nauth_token = "x"\npublic_url = "https://a.example/?q=1"\n', "no query"),
        ("[twilio]\nmax_calls = 0\n", "twilio.max_calls: expected 1..1000"),
        ("[sip]\nmedia_realtime = 100\n", "sip.media_realtime: expected 0..99"),
        ("[sip]\nmedia_nice = 5\n", "sip.media_nice: expected -20..0"),
        ("[websocket]\nmedia_timeout_seconds = 1\n", "websocket.media_timeout_seconds"),
        ("[websocket]\nmax_message_bytes = 10\n", "websocket.max_message_bytes"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_a_remote_backend_asks_each_model_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "remote.toml"
    path.write_text(
        '[models]\nbackend = "remote"\nurl = "http://127.0.0.1:8081/v1/"\n'
        'llm_url = "http://gpu:8000/v1"\n'
    )
    models = load(path).models
    assert [models.endpoint(role) for role in ("stt", "llm", "tts")] == [
        "http://127.0.0.1:8081/v1",
        "http://gpu:8000/v1",
        "http://127.0.0.1:8081/v1",
    ]


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "absent.toml")

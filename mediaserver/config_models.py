"""Config of the models: which ones, where they run ([models]), and the
inference service that serves them to other processes ([inference])."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mediaserver.config_base import require

BACKENDS = ("local", "remote")


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    """Which models answer, and where they run. A name is looked up in the
    registry (models/registry.py) under `dir`; a path is used as it is (a
    Whisper CTranslate2 directory, a GGUF file, a Piper voice directory).

    backend "remote": the three are asked over HTTP (OpenAI's API) at `url`
    (`mediaserver inference`, vLLM, llama.cpp's llama-server...), or each at
    its own `stt_url` / `llm_url` / `tts_url`; stt, llm and tts are then the
    model names sent in the requests. backend "local" with `llm_url`: see
    llm_elsewhere."""

    dir: str = ""  # default: $MEDIASERVER_MODELS or ~/.cache/mediaserver/models
    device: str = "cpu"
    stt: str = "whisper-tiny.en"
    llm: str = "qwen2.5-coder-0.5b-instruct-q4_0"
    tts: str = "piper-en_US-joe-medium"
    llm_threads: int = 0  # 0: every core
    stt_beam_size: int = 5  # 1: greedy (bench.stt_accuracy compares them)
    stt_window_seconds: int = 10  # encoder window for an utterance shorter than it; 30: Whisper's
    backend: str = "local"  # "local": in this process; "remote": over HTTP
    url: str = ""  # remote: base URL of all three, e.g. http://127.0.0.1:8081/v1
    stt_url: str = ""  # remote: this model elsewhere (a base URL ending in /v1)
    llm_url: str = ""
    tts_url: str = ""
    embed_url: str = ""  # remote: where /v1/embeddings is asked (default: url)
    voice: str = ""  # remote: the `voice` of speech requests (default: the tts name)
    api_key: str = ""  # remote: sent as a Bearer token (vLLM --api-key, llama-server --api-key)
    timeout_seconds: float = 10.0  # remote: a request's deadline, and a stream's between pieces

    def __post_init__(self) -> None:
        require(self.device in ("cpu", "cuda"), "models.device", 'expected "cpu" or "cuda"')
        for key in ("stt", "llm", "tts"):
            require(bool(getattr(self, key)), f"models.{key}", "must name a model or a path")
        require(0 <= self.llm_threads <= 256, "models.llm_threads", "expected 0..256")
        require(1 <= self.stt_beam_size <= 10, "models.stt_beam_size", "expected 1..10")
        require(1 <= self.stt_window_seconds <= 30, "models.stt_window_seconds", "expected 1..30")
        require(
            self.backend in BACKENDS,
            "models.backend",
            f'expected "local" or "remote", got {self.backend!r}',
        )
        for key in ("url", "stt_url", "llm_url", "tts_url", "embed_url"):
            value = getattr(self, key)
            parts = urlsplit(value)
            require(
                not value or (parts.scheme in ("http", "https") and bool(parts.netloc)),
                f"models.{key}",
                f"{value!r}: expected an http:// or https:// URL",
            )
        if self.backend == "remote":
            for role in ("stt", "llm", "tts"):
                require(
                    bool(self.url or getattr(self, f"{role}_url")),
                    "models.url",
                    f'backend "remote" needs models.url or models.{role}_url',
                )
        require(0.5 <= self.timeout_seconds <= 600, "models.timeout_seconds", "expected 0.5..600 s")

    @property
    def llm_elsewhere(self) -> bool:
        """backend "local" with llm_url: the LLM is another server's (vLLM,
        llama-server), named `llm` there; STT and TTS are loaded here. For a
        cluster's inference role and `mediaserver inference`; a single process
        loads all three models, or none (backend "remote")."""
        return self.backend == "local" and bool(self.llm_url)

    def endpoint(self, role: str) -> str:
        """The base URL a model is asked at (remote backend), without a trailing /."""
        return str(getattr(self, f"{role}_url") or self.url).rstrip("/")


@dataclass(frozen=True, slots=True)
class InferenceConfig:
    """`mediaserver inference`: one process owning the models, serving them
    over OpenAI's API. Each model has a bounded queue: a request that finds it
    full is refused at once (503 and Retry-After), never left to wait."""

    host: str = "127.0.0.1"
    port: int = 8081
    stt_queue: int = 16  # requests waiting per model, beyond the one(s) running
    llm_queue: int = 8
    tts_queue: int = 16
    embed_queue: int = 16  # /v1/embeddings requests (retrieval during calls, ingestion)
    stt_batch: int = 8  # transcriptions decoded together at most
    stt_batch_window_ms: int = 0  # after the first, wait this long for others (GPU: 10-20)
    retry_after_seconds: int = 1  # what a refusal tells the client
    # the models take turns on the CPU's cores, the work due soonest first
    # (mediaserver/cores.py): on a CPU two at once make each ~2x slower; false
    # on a GPU box, where they do not share the cores
    share_cores: bool = True

    def __post_init__(self) -> None:
        require(bool(self.host), "inference.host", "must not be empty")
        require(0 <= self.port <= 65535, "inference.port", f"expected 0..65535, got {self.port}")
        for key in ("stt_queue", "llm_queue", "tts_queue", "embed_queue"):
            require(1 <= getattr(self, key) <= 10_000, f"inference.{key}", "expected 1..10000")
        require(1 <= self.stt_batch <= 64, "inference.stt_batch", "expected 1..64")
        require(
            0 <= self.stt_batch_window_ms <= 1000,
            "inference.stt_batch_window_ms",
            "expected 0..1000 ms",
        )
        require(
            1 <= self.retry_after_seconds <= 600, "inference.retry_after_seconds", "expected 1..600"
        )

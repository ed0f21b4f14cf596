"""Memory of a cluster with real models: one copy of them, whatever the workers.

    python -m bench.cluster_memory [--workers 1,4,10] [--json]

For each N: `mediaserver serve --workers N` with the default models (the
supervisor's inference role holds them; the workers ask it over loopback),
RSS of every process once the cluster is ready; beside it, one `serve` with
its models in process, and what N such processes would take (the way to run
N x 4 calls before the cluster)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.capacity_media import rss_mb
from tests.cluster import start_cluster, stop_cluster
from tests.server import start_server, stop_server


def cluster_rss(workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        srv = start_cluster(Path(tmp), workers, env={"MEDIASERVER_FAKE_SPEECH": "0"})
        try:
            log = srv.log.read_text(errors="replace")
            pids = {m[1]: int(m[2]) for m in re.finditer(r"(\S+) started \(pid (\d+)\)", log)}
            rss = {name: rss_mb(pid) or 0.0 for name, pid in pids.items()}  # 0: gone
            rss["supervisor"] = rss_mb(srv.proc.pid) or 0.0
        finally:
            stop_cluster(srv)
    worker_rss = [mb for name, mb in rss.items() if re.fullmatch(r"w\d+", name)]
    return {
        "workers": workers,
        "total_mb": round(sum(rss.values()), 1),
        "inference_mb": rss.get("inference", 0.0),
        "worker_mb_mean": round(sum(worker_rss) / max(1, len(worker_rss)), 1),
        "processes": rss,
    }


def single_process_rss() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        srv = start_server(Path(tmp))
        try:
            return rss_mb(srv.proc.pid) or 0.0
        finally:
            stop_server(srv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_memory", description=__doc__)
    parser.add_argument("--workers", default="1,4,10", help="cluster sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    single = single_process_rss()
    rows = [cluster_rss(int(n)) for n in args.workers.split(",")]
    for row in rows:
        row["n_single_processes_mb"] = round(single * row["workers"], 1)
    result = {"single_process_mb": single, "rows": rows}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"one `serve` with its models: {single} MB")
    print(f"{'workers':>7} {'cluster MB':>10} {'inference':>9} {'per worker':>10} {'N serves':>9}")
    for r in rows:
        print(
            f"{r['workers']:>7} {r['total_mb']:>10} {r['inference_mb']:>9} "
            f"{r['worker_mb_mean']:>10} {r['n_single_processes_mb']:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench.campaign: the campaign runner dialling 200 leads from a real SQLite
store against in-process fake callees (each call answered and held for
--call-seconds), at several max_concurrent settings in one run.

Per setting: the dial rate reached against the configured concurrency's
ideal (max_concurrent / call length: a runner that never lets a slot idle
reaches 1.0), the most calls seen at once (never above max_concurrent), the
store writes per call (INSERT/UPDATE/DELETE statements the runner made), and
memory (RSS growth over the run, and the peak).

    python -m bench.campaign [--leads 200] [--concurrency 5,10,20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mediaserver.agents import DEFAULT_AGENT, AgentBook
from mediaserver.campaigns import leads_csv
from mediaserver.campaigns.events import CampaignFinished
from mediaserver.campaigns.model import CampaignSpec, Schedule
from mediaserver.campaigns.runner import CampaignRunner
from mediaserver.dialer import DialOptions
from mediaserver.store import Store
from mediaserver.store.campaigns import CampaignStore

ALWAYS = Schedule(
    days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="00:00", end="24:00"
)


class Callees:
    """Dials: every number answers; the call lasts `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.live = 0
        self.most = 0
        self.calls = 0

    async def dial(
        self, uri: str, agent: Any, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        self.calls += 1
        self.live += 1
        self.most = max(self.most, self.live)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.live -= 1
        return "answered", 200, "", ""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_one(leads: int, concurrency: int, call_seconds: float, root: Path) -> dict[str, Any]:
    store = Store.open(f"sqlite:///{root / f'store-{concurrency}.db'}")
    writes = [0]

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes[0] += 1

    campaigns = CampaignStore(store)
    spec = CampaignSpec(name="bench", max_concurrent=concurrency, schedule=ALWAYS)
    campaign = campaigns.create(spec.name, spec.model_dump())["id"]
    rows = "\n".join(f"+1415555{n:04d},Lead {n},gold" for n in range(leads))
    parsed = leads_csv.parse(f"phone,name,plan\n{rows}\n".encode(), "US")
    if parsed.errors:
        raise SystemExit(f"bench leads refused: {parsed.errors[:3]}")
    campaigns.add_leads(campaign, parsed.leads)
    campaigns.move(campaign, {"draft"}, "running")
    callees = Callees(call_seconds)
    slots = asyncio.Semaphore(concurrency)
    finished = asyncio.Event()
    runner = CampaignRunner(
        campaigns,
        callees,
        AgentBook(DEFAULT_AGENT),
        slots=lambda trunk: slots,
        target=lambda number, trunk: f"sip:{number}@127.0.0.1",
        on_event=lambda event: finished.set() if isinstance(event, CampaignFinished) else None,
    )
    before = rss_mb()
    writes[0] = 0
    start = time.perf_counter()
    runner.start()
    await finished.wait()
    elapsed = time.perf_counter() - start
    await runner.close()
    grown = rss_mb() - before
    store.close()
    ideal = concurrency / call_seconds
    rate = leads / elapsed
    return {
        "leads": leads,
        "max_concurrent": concurrency,
        "call_seconds": call_seconds,
        "seconds": round(elapsed, 2),
        "dial_rate_per_s": round(rate, 2),
        "ideal_rate_per_s": round(ideal, 2),
        "rate_vs_ideal": round(rate / ideal, 3),
        "most_at_once": callees.most,
        "store_writes_per_call": round(writes[0] / callees.calls, 2),
        "rss_growth_mb": round(grown, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--concurrency", default="5,10,20")
    parser.add_argument("--call-seconds", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as root:
        rows = [
            asyncio.run(run_one(args.leads, int(concurrency), args.call_seconds, Path(root)))
            for concurrency in args.concurrency.split(",")
        ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"runs": rows, "peak_rss_mb": round(peak, 1)}, indent=2))
        return
    print(
        f"{'max_conc':>8} {'seconds':>8} {'rate/s':>7} {'ideal/s':>8} {'ratio':>6} "
        f"{'at once':>7} {'writes/call':>11} {'rss+MB':>7}"
    )
    for r in rows:
        print(
            f"{r['max_concurrent']:>8} {r['seconds']:>8} {r['dial_rate_per_s']:>7} "
            f"{r['ideal_rate_per_s']:>8} {r['rate_vs_ideal']:>6} {r['most_at_once']:>7} "
            f"{r['store_writes_per_call']:>11} {r['rss_growth_mb']:>7}"
        )
    print(f"peak RSS {peak:.1f} MB")


if __name__ == "__main__":
    main()

"""Campaigns' logic on a real SQLite store: lead CSVs, calling windows, and the
runner dialling a fake `Dials` on virtual time (retries, windows, leases)."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mediaserver.agents import DEFAULT_AGENT, AgentBook, with_variables
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy
from mediaserver.campaigns import leads_csv
from mediaserver.campaigns.events import AttemptEnded, CampaignEvent, CampaignFinished
from mediaserver.campaigns.model import CampaignSpec, Schedule, zone
from mediaserver.campaigns.runner import CampaignRunner
from mediaserver.campaigns.schedule import next_open
from mediaserver.dialer import DialOptions
from mediaserver.store import Store
from mediaserver.store.campaigns import CampaignStore
from mediaserver.store.tables import campaigns
from tests.virtual_time import run_virtual

# Wednesday 2026-01-07 10:00 UTC
WEDNESDAY_10 = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


# -- CSV ------------------------------------------------------------------------


def test_a_csv_takes_good_rows_and_reports_each_bad_one_by_line() -> None:
    parsed = leads_csv.parse(
        csv_bytes(
            "phone,name,timezone,plan",
            "+14155550123,Ann,America/Los_Angeles,gold",
            "(212) 555-0199,Bob,,silver",  # national, in the campaign's country
            "not a number,Cy,,x",
            "+14155550123,Ann again,,x",
            "+14155550124,Dee,Mars/Olympus,x",
            "+14155550125,Eve",
            ",,,",  # blank: skipped
        ),
        "US",
    )
    assert [(lead.line, lead.phone, lead.variables) for lead in parsed.leads] == [
        (2, "+14155550123", {"plan": "gold"}),
        (3, "+12125550199", {"plan": "silver"}),
    ]
    assert [error["line"] for error in parsed.errors] == [4, 5, 6, 7]
    reasons = [error["reason"] for error in parsed.errors]
    assert "not a phone number" in reasons[0]
    assert "already on line 2" in reasons[1]
    assert "unknown time zone" in reasons[2]
    assert "2 fields; the header has 4" in reasons[3]


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (csv_bytes("number,name", "+14155550123,Ann"), 400, "no 'phone' column"),
        (b"", 400, "empty"),
        ("phone,name\n+14155550123,Zo\xeb\n".encode("latin-1"), 400, "not UTF-8"),
        (csv_bytes("phone,Phone", "1,2"), 400, "twice"),
        (
            csv_bytes("phone", *(f"+1415555{n:04d}" for n in range(leads_csv.MAX_ROWS + 1))),
            413,
            f"more than {leads_csv.MAX_ROWS} rows",
        ),
    ],
)
def test_a_csv_that_cannot_be_read_is_refused_whole(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(leads_csv.CsvError) as caught:
        leads_csv.parse(data, "US")
    assert caught.value.status == status and reason in str(caught.value)


def test_a_formula_is_kept_as_text_and_neutralized_in_exports_and_prompts() -> None:
    formula = "=cmd|' /C calc'!A0"
    parsed = leads_csv.parse(csv_bytes("phone,note", f'+14155550123,"{formula}"'), "US")
    assert parsed.leads[0].variables == {"note": formula}  # stored as it came
    row = {
        "line": 2,
        "phone": "+14155550123",
        "name": "@SUM(1)",
        "timezone": "",
        "state": "queued",
        "attempts": 0,
        "outcome": None,
        "sip_code": None,
        "variables": {"note": formula},
    }
    exported = next(csv.DictReader(io.StringIO(leads_csv.export([row]))))
    assert exported["note"] == "'" + formula and exported["name"] == "'@SUM(1)"
    assert exported["phone"] == "+14155550123"  # a validated number stays as it is
    assert leads_csv.neutralized(formula) == "'" + formula  # as the runner fills a prompt
    assert leads_csv.neutralized("Ann") == "Ann"


def test_variables_fill_the_greeting_and_prompt_and_leave_other_braces() -> None:
    from dataclasses import replace

    agent = replace(
        DEFAULT_AGENT,
        greeting="Hi {name}, about your {plan} plan.",
        system_prompt='Answer as JSON {"ok": true}. Caller: {name}; unknown: {missing}.',
    )
    filled = with_variables(agent, {"name": "Ann", "plan": "gold"})
    assert filled.greeting == "Hi Ann, about your gold plan."
    assert filled.system_prompt == 'Answer as JSON {"ok": true}. Caller: Ann; unknown: {missing}.'


# -- calling windows --------------------------------------------------------------


def test_the_window_is_open_inside_its_hours_and_days_in_the_leads_zone() -> None:
    weekdays = Schedule(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00")
    london, tokyo = zone("Europe/London"), zone("Asia/Tokyo")
    assert next_open(WEDNESDAY_10, london, weekdays) == WEDNESDAY_10
    # 19:00 in Tokyo: closed; opens Thursday 09:00 JST = Thursday 00:00 UTC
    assert next_open(WEDNESDAY_10, tokyo, weekdays) == datetime(2026, 1, 8, 0, 0, tzinfo=UTC)
    friday_evening = datetime(2026, 1, 9, 18, 0, tzinfo=UTC)
    assert next_open(friday_evening, london, weekdays) == datetime(2026, 1, 12, 9, tzinfo=UTC)
    early = datetime(2026, 1, 7, 8, 59, tzinfo=UTC)
    assert next_open(early, london, weekdays) == datetime(2026, 1, 7, 9, tzinfo=UTC)
    evenings = Schedule(days=["wed"], start="18:00", end="24:00")
    late = datetime(2026, 1, 7, 23, 59, 30, tzinfo=UTC)
    assert next_open(late, london, evenings) == late  # open to midnight
    assert next_open(WEDNESDAY_10, london, evenings) == datetime(2026, 1, 7, 18, tzinfo=UTC)
    with pytest.raises(ValueError, match="HH:MM"):
        Schedule(start="24:00", end="24:00")


def test_a_spec_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="before end"):
        Schedule(start="18:00", end="09:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        CampaignSpec(name="x", timezone="Nowhere/Land")
    with pytest.raises(ValueError, match="voicemail_message"):
        CampaignSpec(name="x", voicemail="leave_message")


# -- the runner on virtual time -------------------------------------------------


@dataclass
class FakeCallees:
    """Dials: each number answers as the script says; counts calls at once."""

    script: dict[str, str]  # E.164 -> answered | busy | no answer | rejected
    clock: Callable[[], float]
    seconds: float = 30.0
    calls: Counter[str] = field(default_factory=Counter)
    live: Counter[str] = field(default_factory=Counter)
    most_at_once: int = 0
    most_per_number: int = 0
    dialled_at: dict[str, list[float]] = field(default_factory=dict)
    policies: dict[str, AmdPolicy | None] = field(default_factory=dict)
    caller_ids: list[str] = field(default_factory=list)

    async def dial(
        self, uri: str, agent: Any, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        amd, on_amd, ring_seconds = options.amd, options.on_amd, options.ring_seconds
        number = uri.split(":", 1)[1].split("@", 1)[0]
        self.calls[number] += 1
        self.caller_ids.append(options.caller_id)
        self.dialled_at.setdefault(number, []).append(self.clock())
        self.live[number] += 1
        self.most_per_number = max(self.most_per_number, self.live[number])
        self.most_at_once = max(self.most_at_once, sum(self.live.values()))
        try:
            behaviour = self.script[number]
            self.policies[number] = amd
            if behaviour in ("machine", "carrier") and on_amd is not None:  # answered by one
                on_amd(AmdDecision("machine", 2.0, "beep", True, carrier=behaviour == "carrier"))
                behaviour = "answered"
            await asyncio.sleep(self.seconds if behaviour == "answered" else ring_seconds / 3)
            code = {"answered": 200, "busy": 486, "no answer": 487, "rejected": 603}[behaviour]
            return behaviour, code, "", f"call-{number}-{self.calls[number]}"
        finally:
            self.live[number] -= 1


def make_runner(
    store: CampaignStore, callees: FakeCallees, events: list[CampaignEvent], per_trunk: int = 4
) -> CampaignRunner:
    loop = asyncio.get_running_loop()
    started = loop.time()
    slots = asyncio.Semaphore(per_trunk)

    async def inline(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)  # the store is local SQLite; virtual time must not see threads

    return CampaignRunner(
        store,
        callees,
        AgentBook(DEFAULT_AGENT),
        slots=lambda trunk: slots,
        target=lambda number, trunk: f"sip:{number}@trunk.example",
        on_event=events.append,
        now=lambda: WEDNESDAY_10 + timedelta(seconds=loop.time() - started),
        offload=inline,
        tick_seconds=1.0,
    )


@pytest.fixture
def store(tmp_path: Path) -> CampaignStore:
    return CampaignStore(Store.open(f"sqlite:///{tmp_path / 'store.db'}"))


SCRIPT = {
    "+14155550101": "answered",
    "+14155550102": "busy",
    "+14155550103": "no answer",
    "+14155550104": "rejected",
}
SPEC = CampaignSpec(
    name="spring",
    max_concurrent=2,
    max_attempts=3,
    retry_seconds={"busy": 60, "no_answer": 120, "voicemail": 60, "failed": 30},
    ring_seconds=20,
    schedule=Schedule(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00"),
)


def add_campaign(
    store: CampaignStore, spec: CampaignSpec, rows: list[str], header: str = "phone,timezone"
) -> int:
    campaign = store.create(spec.name, spec.model_dump())
    parsed = leads_csv.parse(csv_bytes(header, *rows), spec.country)
    assert not parsed.errors
    store.add_leads(campaign["id"], parsed.leads)
    assert store.move(campaign["id"], {"draft"}, "running")
    return int(campaign["id"])


def run_campaign(
    store: CampaignStore,
    campaign_id: int,
    script: dict[str, str],
    *,
    seconds: float = 30.0,
    events: list[CampaignEvent] | None = None,
    max_ticks: int = 1000,
) -> FakeCallees:
    """Run the campaign on virtual time, one tick a second, against callees
    answering as `script` says (answered calls last `seconds`), until it
    finishes; the callees, with what they saw."""

    async def scenario() -> FakeCallees:
        loop = asyncio.get_running_loop()
        callees = FakeCallees(script, loop.time, seconds=seconds)
        runner = make_runner(store, callees, [] if events is None else events)
        for _ in range(max_ticks):
            await runner.tick()
            if store.get(campaign_id)["state"] == "finished":  # type: ignore[index]
                break
            await asyncio.sleep(1.0)
        await runner.close()
        return callees

    callees = run_virtual(scenario())
    assert store.get(campaign_id)["state"] == "finished"  # type: ignore[index]
    return callees


def test_every_lead_ends_in_its_state_after_the_retries_its_outcome_allows(
    store: CampaignStore,
) -> None:
    events: list[CampaignEvent] = []
    campaign = add_campaign(store, SPEC, [f"{number}," for number in SCRIPT])
    callees = run_campaign(store, campaign, SCRIPT, events=events)
    assert callees.calls == {
        "+14155550101": 1,
        "+14155550102": 3,
        "+14155550103": 3,
        "+14155550104": 1,
    }
    busy = callees.dialled_at["+14155550102"]
    assert [round(b - a) >= 60 for a, b in itertools.pairwise(busy)] == [True, True]
    assert callees.most_at_once == 2 and callees.most_per_number == 1
    campaign_id = next(e.campaign_id for e in events if isinstance(e, CampaignFinished))
    _, leads = store.leads(campaign_id)
    assert {lead["phone"]: (lead["state"], lead["attempts"]) for lead in leads} == {
        "+14155550101": ("answered", 1),
        "+14155550102": ("busy", 3),
        "+14155550103": ("no_answer", 3),
        "+14155550104": ("rejected", 1),
    }
    ended = [e for e in events if isinstance(e, AttemptEnded)]
    assert len(ended) == 8 and ended[-1].state != "queued"


def test_a_machine_answer_ends_the_lead_as_voicemail_with_the_campaigns_message(
    store: CampaignStore,
) -> None:
    """Every campaign call asks for answering-machine detection with the
    campaign's voicemail policy; a machine's verdict is the lead's outcome."""
    spec = SPEC.model_copy(
        update={"voicemail": "leave_message", "voicemail_message": "Hi {name}, call us back."}
    )
    script = {"+14155550101": "machine", "+14155550102": "answered", "+14155550103": "carrier"}
    campaign = add_campaign(store, spec, [f"{n},Ann" for n in script], header="phone,name")
    callees = run_campaign(store, campaign, script, seconds=5)
    policy = callees.policies["+14155550101"]
    assert policy is not None and policy.on_machine == "message"
    assert policy.message == "Hi Ann, call us back."
    _, leads = store.leads(campaign)
    states = {lead["phone"]: lead["state"] for lead in leads}
    assert states["+14155550101"] == "voicemail"  # a message left: final
    assert states["+14155550102"] == "answered"
    assert callees.calls["+14155550103"] == SPEC.max_attempts  # a carrier announcement: failed
    assert states["+14155550103"] == "failed"


def test_a_lead_in_a_closed_time_zone_waits_for_its_window(store: CampaignStore) -> None:
    async def scenario() -> tuple[FakeCallees, float]:
        loop = asyncio.get_running_loop()
        callees = FakeCallees({"+14155550101": "answered", "+14155550102": "answered"}, loop.time)
        callees.seconds = 5
        add_campaign(store, SPEC, ["+14155550101,Europe/London", "+14155550102,Asia/Tokyo"])
        runner = make_runner(store, callees, [])
        start = loop.time()
        while callees.calls["+14155550102"] == 0 and loop.time() - start < 2 * 86400:
            await runner.tick()
            await asyncio.sleep(60.0)
        await runner.close()
        return callees, start

    callees, start = run_virtual(scenario())
    london = callees.dialled_at["+14155550101"][0] - start
    tokyo = callees.dialled_at["+14155550102"][0] - start
    assert london < 60
    # Tokyo's 09:00 on Thursday is 00:00 UTC: 14 hours after Wednesday 10:00 UTC
    assert 14 * 3600 <= tokyo < 14 * 3600 + 120


def test_an_attempt_whose_runner_died_is_closed_unclean_and_retried(
    store: CampaignStore,
) -> None:
    campaign = add_campaign(store, SPEC, ["+14155550101,"])
    _, (lead,) = store.leads(campaign)
    dead = store.claim(lead["id"], "dead-runner", WEDNESDAY_10 + timedelta(seconds=15))
    assert dead is not None
    assert store.claim(lead["id"], "another", WEDNESDAY_10 + timedelta(seconds=15)) is None
    callees = run_campaign(store, campaign, {"+14155550101": "answered"})
    assert callees.calls["+14155550101"] == 1 and callees.most_per_number == 1
    found = store.lead(campaign, lead["id"])
    assert found is not None
    assert [(a["number"], a["outcome"]) for a in found["attempt_log"]] == [
        (1, "unclean"),
        (2, "answered"),
    ]
    assert found["state"] == "answered"


def test_a_number_on_the_do_not_call_list_is_never_dialled(store: CampaignStore) -> None:
    campaign = add_campaign(store, SPEC, ["+14155550101,", "+14155550102,"])
    store.dnc_add(["+14155550102"])
    callees = run_campaign(store, campaign, SCRIPT)
    assert dict(callees.calls) == {"+14155550101": 1}
    _, leads = store.leads(campaign, "dnc")
    assert [lead["phone"] for lead in leads] == ["+14155550102"]


def test_bench_campaign_reports_rate_writes_and_memory() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [
            *(sys.executable, "-m", "bench.campaign", "--leads", "20", "--concurrency", "4"),
            *("--call-seconds", "0.1", "--json"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    (run,) = json.loads(out.stdout)["runs"]
    assert run["leads"] == 20 and 1 <= run["most_at_once"] <= 4
    assert run["store_writes_per_call"] >= 4  # claim (2) and finish (2) at least
    assert run["dial_rate_per_s"] > 0 and run["rate_vs_ideal"] > 0


def test_a_lead_whose_campaign_stops_mid_call_is_not_queued_again(store: CampaignStore) -> None:
    campaign = add_campaign(store, SPEC, ["+14155550101,", "+14155550102,"])
    _, (first, second) = store.leads(campaign)
    claim = store.claim(first["id"], "me", WEDNESDAY_10 + timedelta(seconds=15))
    assert claim is not None
    assert store.move(campaign, {"running"}, "stopped")
    retry_at = WEDNESDAY_10 + timedelta(seconds=60)
    assert store.finish(
        claim, "me", outcome="busy", sip_code=486, call_id="c1", state="queued", next_at=retry_at
    )
    assert store.lead(campaign, first["id"])["state"] == "stopped"  # type: ignore[index]
    assert store.lead(campaign, second["id"])["state"] == "stopped"  # type: ignore[index]
    assert store.claim(second["id"], "me", retry_at) is None


def test_the_runner_closes_right_after_its_campaign_finishes(store: CampaignStore) -> None:
    """On a real loop, with the store off it in threads: Python 3.11's
    asyncio.wait_for turned close()'s cancellation into a timeout of the
    runner's tick wait, and the runner ran on for ever."""
    always = Schedule(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], end="24:00")
    add_campaign(
        store,
        SPEC.model_copy(update={"schedule": always.model_copy(update={"start": "00:00"})}),
        [f"+141555501{n:02d}," for n in range(20)],
    )

    async def scenario() -> bool:
        callees = FakeCallees({}, time.monotonic, seconds=0.1)
        callees.script = {f"+141555501{n:02d}": "answered" for n in range(20)}
        finished = asyncio.Event()

        def on_event(event: CampaignEvent) -> None:
            if isinstance(event, CampaignFinished):
                finished.set()

        slots = asyncio.Semaphore(4)
        runner = CampaignRunner(
            store,
            callees,
            AgentBook(DEFAULT_AGENT),
            slots=lambda trunk: slots,
            target=lambda number, trunk: f"sip:{number}@trunk.example",
            on_event=on_event,
        )
        runner.start()
        await finished.wait()
        try:
            await asyncio.wait_for(runner.close(), 30)
        except TimeoutError:
            return False
        return True

    assert asyncio.run(scenario())


def test_a_campaign_stored_with_a_caller_id_todays_check_refuses_still_runs(
    store: CampaignStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Saved before caller IDs were checked: dialled without it, not stuck."""
    campaign = add_campaign(store, SPEC, ["+14155550101,"])
    broken = store.create("broken", {**SPEC.model_dump(), "max_concurrent": "many"})
    assert store.move(broken["id"], {"draft"}, "running")
    with store.engine.begin() as c:
        c.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign)
            .values(spec={**SPEC.model_dump(), "caller_id": "Sales"})
        )
    callees = run_campaign(store, campaign, SCRIPT)
    assert callees.calls == {"+14155550101": 1}
    assert callees.caller_ids == [""]
    assert "stored caller_id 'Sales'" in caplog.text
    assert f"campaign {broken['id']}: its stored spec is not valid" in caplog.text

"""Calling windows: the days and local hours a lead may be called, in its own
time zone (or the campaign's). Pure functions of an injected `now`."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from mediaserver.campaigns.model import DAYS, Schedule


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def next_open(now: datetime, where: ZoneInfo, schedule: Schedule) -> datetime:
    """`now` if the window is open at `now` in zone `where`, else the moment
    (UTC-aware) it next opens. `now` must be timezone-aware."""
    local = now.astimezone(where)
    start = _clock(schedule.start)
    to_midnight = schedule.end == "24:00"
    end = time(0, 0) if to_midnight else _clock(schedule.end)
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        if DAYS[day.weekday()] not in schedule.days:
            continue
        opens = datetime.combine(day, start, where)
        closes = datetime.combine(day + timedelta(days=to_midnight), end, where)
        if ahead == 0 and opens <= local < closes:
            return now
        if opens > local:
            return opens.astimezone(now.tzinfo)
    raise ValueError("the schedule has no days")

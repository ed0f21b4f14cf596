"""Lead lists as CSV: a `phone` column (E.164, or national in the campaign's
country), optional `name` and `timezone`, and any other column a variable
({column} in the agent's greeting and prompt). Good rows are taken, each bad
one is reported with its line and why; a file that cannot be read at all
(not UTF-8, no `phone` column, over MAX_ROWS rows) is refused whole.

Cells are kept as the text they are. A cell that a spreadsheet would run as
a formula (=, +, -, @ first) is neutralized where it leaves the store: in a
CSV export and in the agent's prompt (`neutralized`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mediaserver.campaigns.model import e164, zone

MAX_ROWS = 50_000  # per upload: a bigger list goes up in parts (the request stays short)
MAX_BYTES = 8 * 1024 * 1024
MAX_CELL = 1000  # characters in one cell
MAX_COLUMNS = 50
MAX_ERRORS = 1000  # listed in the report; the count covers them all
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvError(ValueError):
    """The file is refused whole; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Lead:
    line: int
    phone: str  # E.164
    name: str
    timezone: str
    variables: dict[str, str]


@dataclass
class Parsed:
    leads: list[Lead] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {line, reason}
    rejected: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "reason": reason})


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def parse(data: bytes, country: str) -> Parsed:
    """Every row of the CSV `data`; CsvError if the file cannot be taken at all."""
    if len(data) > MAX_BYTES:
        raise CsvError(f"the file is over {MAX_BYTES // (1024 * 1024)} MiB", 413)
    reader = csv.reader(io.StringIO(decode(data), newline=""))
    header = _header(reader)
    parsed = Parsed()
    first_line: dict[str, int] = {}
    rows = 0
    for row in _rows(reader):
        line = reader.line_num
        rows += 1
        if rows > MAX_ROWS:
            raise CsvError(f"more than {MAX_ROWS} rows; upload the list in parts", 413)
        try:
            lead = _lead(line, header, row, country)
        except ValueError as exc:
            parsed.reject(line, str(exc))
            continue
        if (earlier := first_line.setdefault(lead.phone, line)) != line:
            parsed.reject(line, f"{lead.phone} is already on line {earlier}")
            continue
        parsed.leads.append(lead)
    return parsed


def _header(reader: Iterator[list[str]]) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CsvError("the file is empty (expected a header row with a phone column)") from None
    except csv.Error as exc:
        raise CsvError(f"line 1: {exc}") from None
    lowered = [name.lower() for name in header]
    if "phone" not in lowered:
        shown = ", ".join(header[:10]) or "none"
        raise CsvError(f"no 'phone' column in the header (columns: {shown})")
    if len(header) > MAX_COLUMNS:
        raise CsvError(f"{len(header)} columns; at most {MAX_COLUMNS}")
    if "" in header:
        raise CsvError(f"column {header.index('') + 1} of the header has no name")
    if len(set(lowered)) != len(lowered):
        raise CsvError("the header names a column twice")
    return [
        name.lower() if name.lower() in ("phone", "name", "timezone") else name for name in header
    ]


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvError(f"the file is not valid CSV: {exc}") from None
        if any(cell.strip() for cell in row):
            yield row


def _lead(line: int, header: list[str], row: list[str], country: str) -> Lead:
    if len(row) != len(header):
        raise ValueError(f"{len(row)} fields; the header has {len(header)}")
    cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
    if too_long := [name for name, cell in cells.items() if len(cell) > MAX_CELL]:
        raise ValueError(f"{too_long[0]}: over {MAX_CELL} characters")
    if not cells["phone"]:
        raise ValueError("no phone number")
    phone = e164(cells.pop("phone"), country)
    name = cells.pop("name", "")
    if len(name) > 128:
        raise ValueError("name: over 128 characters")
    timezone = cells.pop("timezone", "")
    if timezone:
        zone(timezone)
    return Lead(line, phone, name, timezone, cells)


def neutralized(value: str) -> str:
    """`value` safe to hand to a spreadsheet: a leading formula character is
    quoted with an apostrophe (OWASP's advice for CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def export(rows: list[dict[str, Any]]) -> str:
    """Leads as CSV, every cell neutralized."""
    out = io.StringIO()
    names = ["line", "phone", "name", "timezone", "state", "attempts", "outcome", "sip_code"]
    extra = sorted({key for row in rows for key in row["variables"]} - set(names))
    writer = csv.writer(out)
    writer.writerow([*names, *extra])
    for row in rows:
        cells = [row[name] for name in names] + [row["variables"].get(k, "") for k in extra]
        texts = ["" if cell is None else str(cell) for cell in cells]
        # the phone is E.164 as validated: its "+" is no formula
        writer.writerow([t if i == 1 else neutralized(t) for i, t in enumerate(texts)])
    return out.getvalue()

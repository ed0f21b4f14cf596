"""What RFC 3261 makes a 400 and PJSIP's parser lets through, checked on an
INVITE's raw text (pjsua2's SipRxData.wholeMsg) before it is answered."""

from __future__ import annotations

import re

# headers a request carries exactly once (RFC 3261 7.3.1: only headers whose
# value is a comma-separated list may repeat), long and compact names
SINGLE = {
    "call-id": "Call-ID",
    "i": "Call-ID",
    "cseq": "CSeq",
    "from": "From",
    "f": "From",
    "to": "To",
    "t": "To",
    "max-forwards": "Max-Forwards",
    "content-length": "Content-Length",
    "l": "Content-Length",
    "content-type": "Content-Type",
    "c": "Content-Type",
}
_REQUEST_LINE = re.compile(r"([!-~]+) (\S+) SIP/2\.0")
_CSEQ = re.compile(r"(\d{1,10})\s+([!-~]+)")
_TAG = re.compile(r";\s*tag\s*=\s*[^;\s]+", re.IGNORECASE)


class Malformed(ValueError):
    """A request RFC 3261 answers with 400; the message is the reason."""


def problem(message: str, method: str = "INVITE") -> str | None:
    """Why this request is malformed (the reason phrase of a 400), or None."""
    try:
        check(message, method)
    except Malformed as exc:
        return str(exc)
    return None


def check(message: str, method: str = "INVITE") -> None:
    head, *rest = re.split(r"\r?\n\r?\n", message, maxsplit=1)
    body = rest[0] if rest else ""
    lines = re.split(r"\r?\n", head)
    start = _REQUEST_LINE.fullmatch(lines[0])
    if start is None:
        raise Malformed("Malformed Request-Line")
    if start.group(1) != method:
        raise Malformed("Method names are case-sensitive")
    headers = _headers(lines[1:])
    cseq = _CSEQ.fullmatch(headers["CSeq"][0])
    if cseq is None:
        raise Malformed("Malformed CSeq")
    if cseq.group(2) != start.group(1):
        raise Malformed("CSeq method does not match the request")
    if not _TAG.search(_params(headers["From"][0])):
        raise Malformed("From header has no tag")
    if (length := headers.get("Content-Length")) is not None:
        if not length[0].isdigit():
            raise Malformed("Malformed Content-Length")
        if int(length[0]) > len(body.encode("utf-8", "surrogateescape")):
            raise Malformed("Content-Length exceeds the body")


def _headers(lines: list[str]) -> dict[str, list[str]]:
    """Values by header name (compact forms under their long names), each
    single header present once."""
    headers: dict[str, list[str]] = {}
    for line in _unfold(lines):
        name, colon, value = line.partition(":")
        if not colon:
            raise Malformed("Malformed header line")
        key = SINGLE.get(name.strip().lower(), name.strip().lower())
        headers.setdefault(key, []).append(value.strip())
    for name in sorted(set(SINGLE.values())):
        if len(headers.get(name, ())) > 1:
            raise Malformed(f"Duplicate {name} header")
    for name in ("Call-ID", "CSeq", "From", "To"):
        if not headers.get(name, [""])[0]:
            raise Malformed(f"Missing {name} header")
    return headers


def _unfold(lines: list[str]) -> list[str]:
    """Header lines with their continuation lines (leading space or tab) joined."""
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] += " " + line.strip()
        elif line:
            out.append(line)
    return out


def _params(name_addr: str) -> str:
    """The header parameters of a From/To value: after the <URI> if bracketed,
    else after the URI (whose own parameters are then the header's)."""
    if ">" in name_addr:
        return name_addr.rsplit(">", 1)[1]
    return name_addr

"""Where a tool may be called: no server-side request forgery. A tool's host
name is resolved and every address it resolves to is checked: loopback,
link-local, private, shared, multicast and reserved ranges are refused unless
a network of `[tools] allow` holds them. The request then goes to the checked
address itself (the name is kept for Host and TLS), so a second resolution
cannot swap in another one."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The tool's URL may not be called (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host and TLS)
    address: Address  # the checked address to connect to
    port: int


def networks(allow: tuple[str, ...]) -> tuple[Network, ...]:
    """`[tools] allow` as networks; ValueError names a bad entry."""
    parsed = []
    for entry in allow:
        try:
            parsed.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network (e.g. 127.0.0.1/32)") from None
    return tuple(parsed)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a tool's URL at all (checked when the agent is saved)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL: put them in headers, as ${SECRET} references"
    if port == 0:
        return "port 0"
    return None


def public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return public(address.ipv4_mapped)
    return address.is_global and not (address.is_multicast or address.is_reserved)


async def check(url: str, allowed: tuple[Network, ...]) -> Target:
    """The address to call `url` at; Refused if it is not allowed."""
    if (problem := url_problem(url)) is not None:
        raise Refused(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"{host}: cannot resolve ({exc})") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise Refused(f"{host}: no address")
    for address in addresses:
        if not public(address) and not any(address in network for network in allowed):
            raise Refused(
                f"{host} is {address}, a private, loopback or link-local address "
                "(allow it in [tools] allow)"
            )
    return Target(parts.scheme, host, addresses[0], port)

"""Which addresses the server may send requests to (an SSRF guard): only
public ones, unless a configured network allows more (e.g. 127.0.0.1/32 for a
receiver on this box). Webhooks use it when one is configured and again
before every delivery (a name may resolve elsewhere by then)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(ValueError):
    """The URL is malformed or leads to an address that is not allowed."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int


def parse(url: str) -> Target:
    """The host and port of an http(s) URL; Refused if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("expected an http:// or https:// URL")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not accepted")
    return Target(parts.hostname, port or (443 if parts.scheme == "https" else 80))


class NetGuard:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow: tuple[Network, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in allow
        )

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be reached; None if it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return None
        for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
            if getattr(address, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address (not allowed)"
        if not address.is_global:
            return f"{address} is not a public address (not allowed)"
        return None

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not found:
            raise Refused(f"{host} has no address")
        for address in found:
            if (reason := self.refusal(address)) is not None:
                raise Refused(f"{host}: {reason}")

    def check(self, url: str) -> Target:
        """Blocking (resolves the name): for a worker thread."""
        target = parse(url)
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            raise Refused(f"cannot resolve {target.host}: {exc}") from None
        self.check_addresses(target.host, [str(info[4][0]) for info in infos])
        return target

    async def check_async(self, url: str) -> Target:
        """On the event loop (the resolver runs off it)."""
        target = parse(url)
        if _literal(target.host):
            self.check_addresses(target.host, [target.host])
            return target
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            raise Refused(f"cannot resolve {target.host}: {exc}") from None
        self.check_addresses(target.host, [str(info[4][0]) for info in infos])
        return target


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

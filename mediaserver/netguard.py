"""Where the server may send HTTP requests: no server-side request forgery.
Webhooks and agents' HTTP tools share it, each with its own allow-list
(`[webhooks] allow`, `[tools] allow`: networks such as "127.0.0.1/32").

A URL's host name is resolved and every address it resolves to is checked:
loopback, link-local, private, shared (100.64/10), multicast, reserved and
unspecified ranges are refused (IPv4-mapped IPv6 ones as their IPv4 address)
unless a network of the allow-list holds them. The request then goes to the
checked address itself (the name is kept for Host and TLS), so a second
resolution cannot swap in another one (DNS rebinding); redirects are never
followed by the clients that use it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(ValueError):
    """The URL is malformed or leads to an address that is not allowed."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host and TLS)
    address: Address  # the checked address to connect to
    port: int


def networks(allow: Iterable[str | Network]) -> tuple[Network, ...]:
    """An allow-list as networks; ValueError names a bad entry."""
    parsed = []
    for entry in allow:
        try:
            parsed.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network (e.g. 127.0.0.1/32)") from None
    return tuple(parsed)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be called at all, whatever it resolves to; None if it can."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not accepted: put them in headers"
    if port == 0:
        return "port 0"
    return None


def parse(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of an http(s) URL; Refused if it is not one."""
    if (problem := url_problem(url)) is not None:
        raise Refused(problem)
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname or "", parts.port or default


class NetGuard:
    """One allow-list's rules; `setting` names it in refusals ("[tools] allow")."""

    def __init__(self, allow: Iterable[str | Network] = (), setting: str = "allow") -> None:
        self.allowed = networks(allow)
        self.setting = setting

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be reached; None if it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return None
        hint = f"(allow it in {self.setting})"
        for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
            if getattr(address, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address {hint}"
        if not address.is_global:
            return f"{address} is not a public address {hint}"
        return None

    def checked(self, scheme: str, host: str, port: int, addresses: Iterable[str]) -> Target:
        """The first of `addresses` (what `host` resolved to), if every one is allowed."""
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not found:
            raise Refused(f"{host} has no address")
        for address in found:
            if (reason := self.refusal(address)) is not None:
                raise Refused(f"{host}: {reason}")
        return Target(scheme, host, found[0], port)

    def check(self, url: str) -> Target:
        """Blocking (resolves the name): for a worker thread."""
        scheme, host, port = parse(url)
        if _literal(host):
            return self.checked(scheme, host, port, [host])
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            raise Refused(f"cannot resolve {host}: {exc}") from None
        return self.checked(scheme, host, port, [str(info[4][0]) for info in infos])

    async def check_async(self, url: str) -> Target:
        """On the event loop (the resolver runs off it)."""
        scheme, host, port = parse(url)
        if _literal(host):
            return self.checked(scheme, host, port, [host])
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            raise Refused(f"cannot resolve {host}: {exc}") from None
        return self.checked(scheme, host, port, [str(info[4][0]) for info in infos])

    def transport(self) -> GuardedTransport:
        """An httpx transport that sends each request only to its URL's checked address."""
        return GuardedTransport(self)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request's URL, then connects to the checked address; the
    Host header and TLS (SNI, certificate) keep the name. One connection pool
    per name: a connection made for one name never carries another's request."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = await self.guard.check_async(str(request.url))
        request.url = request.url.copy_with(host=str(target.address))
        if target.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        pool = self._pools.get(target.host)
        if pool is None:
            pool = self._pools[target.host] = httpx.AsyncHTTPTransport(trust_env=False)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

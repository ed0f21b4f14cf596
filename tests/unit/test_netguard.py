"""The one SSRF guard (mediaserver.netguard) that webhooks and HTTP tools
share: which addresses it refuses, what its allow-lists open, which URLs it
refuses before resolving anything. The guarded transport's pinning against
DNS rebinding and the redirects are tested against a real HTTP server
(tests/integration/test_netguard_http.py, test_tools_http.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import re

import pytest

from mediaserver.config_base import ConfigError
from mediaserver.config_tools import ToolsConfig
from mediaserver.config_webhooks import WebhooksConfig
from mediaserver.netguard import NetGuard, Refused, networks, parse, url_problem

REFUSED = [
    *("127.0.0.1", "127.8.9.10", "10.1.2.3", "192.168.0.1", "172.16.5.5"),  # loopback, private
    *("169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "240.0.0.1"),  # metadata, CGNAT
    *("::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254"),  # IPv4-mapped
    *("fe80::1", "fc00::1", "fd12::1", "ff02::1", "::"),
]


def url_of(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    guard = NetGuard(setting="[tools] allow")
    assert guard.refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(Refused, match=r"allow it in \[tools\] allow"):
        guard.check(url_of(address))
    with pytest.raises(Refused):
        asyncio.run(guard.check_async(url_of(address)))


def test_public_and_allowed_addresses_pass_and_the_target_is_the_checked_address() -> None:
    assert NetGuard().refusal(ipaddress.ip_address("93.184.216.34")) is None
    target = NetGuard().check("https://93.184.216.34/hook")
    assert (target.scheme, target.port, str(target.address)) == ("https", 443, "93.184.216.34")
    allowed = NetGuard(["127.0.0.1/32"])
    assert allowed.check("http://127.0.0.1:8000/hook").port == 8000
    with pytest.raises(Refused, match="loopback"):
        allowed.check("http://127.0.0.2/hook")
    # an IPv4-mapped address is the IPv4 address: allowed, and refused, as that
    assert allowed.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert NetGuard(["::1/128"]).refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is not None


def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    with pytest.raises(Refused, match=re.escape("localhost: 127.0.0.1 is a loopback address")):
        NetGuard().check("http://localhost:1/")
    with pytest.raises(Refused, match="loopback"):
        asyncio.run(NetGuard().check_async("http://localhost:1/"))
    target = asyncio.run(NetGuard(["127.0.0.0/8", "::1/128"]).check_async("http://localhost:1/"))
    assert target.host == "localhost" and target.address.is_loopback
    with pytest.raises(Refused, match="cannot resolve"):
        NetGuard().check("http://no-such-host.invalid/")
    with pytest.raises(Refused, match="has no address"):
        NetGuard().checked("http", "empty.example", 80, [])
    with pytest.raises(
        Refused, match=re.escape("10.0.0.1 is a private")
    ):  # one bad address is enough
        NetGuard().checked("http", "mixed.example", 80, ["93.184.216.34", "10.0.0.1"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http"),
        ("file:///etc/passwd", "http"),
        ("gopher://example.com:70/", "http"),
        ("javascript:alert(1)", "http"),
        ("example.com/hook", "http"),
        ("http:///path", "no host"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http://example.com:99999/", "valid URL"),
        ("http://example.com:0/", "port 0"),
    ],
)
def test_malformed_urls_and_other_schemes_are_refused_with_a_reason(url: str, reason: str) -> None:
    assert reason in (url_problem(url) or "")
    with pytest.raises(Refused, match=reason):
        parse(url)
    with pytest.raises(Refused, match=reason):
        NetGuard(["0.0.0.0/0"]).check(url)  # whatever the allow-list opens


def test_both_allow_lists_take_the_same_networks_and_name_a_bad_entry() -> None:
    assert networks(["127.0.0.1", "10.0.0.0/8", "::1"]) == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert (
        ToolsConfig(allow=("127.0.0.1/32",)).allow == WebhooksConfig(allow=("127.0.0.1/32",)).allow
    )
    with pytest.raises(ConfigError, match=re.escape("tools.allow: 'nowhere' is not an IP network")):
        ToolsConfig(allow=("nowhere",))
    with pytest.raises(
        ConfigError, match=re.escape("webhooks.allow: 'nowhere' is not an IP network")
    ):
        WebhooksConfig(allow=("nowhere",))

"""The SSRF rule: every spelling of a non-routable address is refused, public ones pass.

The simulator's blocked-address check resolves hosts with the C library's
`inet_aton`; the harvester parses spellings itself. The property tests hold the
two against each other, so neither can drift into accepting what the other reads
as internal.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.simulator.custom import blocked_address
from harvester.sources.custom.ssrf import SsrfError, check_url, url_host

from .spellings import SPELLINGS

BLOCKED_V4 = [
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
    "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4",
]
BLOCKED_V6 = ["::1/128", "::/128", "fe80::/10", "fc00::/7", "ff00::/8"]



def _number(value: int, style: str, upper: bool) -> str:
    if style == "hex":
        text = f"{value:x}"
        return ("0X" if upper else "0x") + (text.upper() if upper else text)
    if style == "oct":
        return "0" + f"{value:o}"
    return str(value)


@st.composite
def spelled(draw: st.DrawFn, address: int) -> str:
    """`address` written as 1 to 4 inet_aton parts, each decimal, octal or hex."""
    parts = draw(st.integers(1, 4))
    head = [(address >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    tail = address & ((1 << (8 * (5 - parts))) - 1)
    styles = st.sampled_from(["dec", "oct", "hex"])
    text = ".".join(_number(n, draw(styles), draw(st.booleans())) for n in [*head, tail])
    return text + draw(st.sampled_from(["", "."]))


def _in(network: str) -> st.SearchStrategy[int]:
    net = ipaddress.IPv4Network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address))


blocked_ints = st.sampled_from(BLOCKED_V4).flatmap(_in)
public_ints = st.integers(0, 2**32 - 1).filter(lambda n: blocked_address(str(ipaddress.IPv4Address(n))) is None)


@pytest.mark.parametrize("url", SPELLINGS)
def test_every_named_spelling_is_refused_by_both_readings(url: str) -> None:
    with pytest.raises(SsrfError):
        check_url(url)
    host = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    assert blocked_address(host) is not None


@given(blocked_ints.flatmap(spelled))
def test_any_spelling_of_a_blocked_ipv4_is_refused(host: str) -> None:
    with pytest.raises(SsrfError, match="internal IP"):
        check_url(f"http://{host}/path")
    assert blocked_address(host) is not None


@given(blocked_ints)
def test_ipv4_mapped_ipv6_of_a_blocked_address_is_refused(value: int) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ipaddress.IPv4Address(value)}")
    for text in (f"::ffff:{ipaddress.IPv4Address(value)}", mapped.compressed, mapped.exploded.upper()):
        with pytest.raises(SsrfError, match=f"internal IP {ipaddress.IPv4Address(value)}"):
            check_url(f"https://[{text}]:443/")


@given(st.sampled_from(BLOCKED_V6).flatmap(
    lambda n: st.integers(int(ipaddress.IPv6Network(n).network_address), int(ipaddress.IPv6Network(n).broadcast_address))
))
def test_blocked_ipv6_ranges_are_refused(value: int) -> None:
    with pytest.raises(SsrfError, match="internal IP"):
        check_url(f"http://[{ipaddress.IPv6Address(value)}]/")


@given(public_ints.flatmap(spelled))
def test_public_ipv4_passes_however_spelled(host: str) -> None:
    assert check_url(f"https://{host}/v1") == f"https://{host}/v1"


_label = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12).map(lambda t: f"{t}-9{t}")


@given(st.lists(_label, min_size=1, max_size=3), st.sampled_from(["com", "io", "test", "example"]))
def test_hostnames_pass(labels: list[str], tld: str) -> None:
    host = ".".join([*labels, tld])
    assert url_host(f"https://{host}/x?y=1") == host


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "must be a full http:// or https:// URL"),
        ("example.com/path", "must be a full http:// or https:// URL"),
        ("javascript:alert(1)", "must be a full http:// or https:// URL"),
        ("http:///path", "no valid host name"),
        ("http://evil.test\\@127.0.0.1/", "backslash"),
        ("http://exa mple.com/", "whitespace"),
        ("http://1.2.3.4.5/", "looks like an IPv4 address but is not one"),
        ("http://127.0.0.08/", "looks like an IPv4 address"),
        ("http://256.1.1.1/", "looks like an IPv4 address"),
        ("http://[::1/", "is not a valid URL"),
        ("http://[fe80::1%25eth0]/", "invalid IPv6 host"),
        ("http://a..b.com/", "no valid host name"),
        ("http://host:99999/", "is not a valid URL"),
    ],
)
def test_urls_that_cannot_be_read_unambiguously_are_refused(url: str, reason: str) -> None:
    with pytest.raises(SsrfError, match=reason.replace("/", "/")) as info:
        check_url(url)
    assert "\n" not in str(info.value)


def test_public_ipv6_and_mapped_public_ipv4_pass() -> None:
    assert check_url("https://[2001:4860:4860::8888]/") == "https://[2001:4860:4860::8888]/"
    assert check_url("https://[::ffff:8.8.8.8]/")
    assert check_url("https://8.8.8.8:8443/x")


def test_embedded_ipv4_in_6to4_and_compatible_forms_is_judged() -> None:
    for url in ("http://[2002:7f00:1::]/", "http://[::127.0.0.1]/", "http://[2002:a00:1::1]/"):
        with pytest.raises(SsrfError, match="internal IP"):
            check_url(url)


def test_same_host_as_keeps_next_urls_on_the_stream_host() -> None:
    base = "https://api.example.com/v1/events?limit=10"
    assert check_url("https://API.example.com./v1/events?page=2", same_host_as=base)
    with pytest.raises(SsrfError, match="leaves the stream's host api.example.com for evil.example.net"):
        check_url("https://evil.example.net/v1/events", same_host_as=base)
    with pytest.raises(SsrfError, match="leaves the stream's host"):
        check_url("https://api.example.com.evil.net/", same_host_as=base)
    with pytest.raises(SsrfError, match="internal IP 127.0.0.1"):
        check_url("http://127.1/", same_host_as=base)

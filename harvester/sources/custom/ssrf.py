"""The SSRF rule: a custom call never targets a non-routable IP literal.

The `custom` action attaches the connection's credentials to whatever URL it is
given, so a URL that points inside a network (a cloud metadata address, a service on
loopback) would hand those credentials, or that network, to whoever wrote the URL:
a config author, or a hostile upstream through a `next_url`. The check runs before
any request, on the config's `url` and on every `next_url` a reply hands back.

The host is read the way a URL parser and a resolver would read it, not matched as
text, because the odd spellings are the attack:

- WHATWG URL host parsing: percent-decoding, IDNA mapping (fullwidth digits and
  ideographic full stops become ASCII), a trailing dot ignored, and any host whose
  last label is a number parsed as IPv4 with `inet_aton` rules: 1 to 4 parts, each
  decimal, octal (`0` prefix) or hex (`0x` prefix), the last part filling the
  remaining bytes (`127.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`);
- bracketed IPv6 with `ipaddress`; an IPv4 address embedded in IPv6 (mapped,
  compatible, 6to4, NAT64, Teredo) is judged as that IPv4 address.

A URL the check cannot read unambiguously (a backslash, whitespace or control
characters, an empty or malformed host, a number-like host that is not a valid
IPv4) is refused too: where a parser and this check could disagree, refusing is the
only answer that does not depend on which one is right. `localhost` names are
refused as well, since every resolver maps them to loopback.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

__all__ = ["SsrfError", "check_url", "url_host"]

_MAX_URL = 8192
_HEX_NUMBER = re.compile(r"^0[xX][0-9a-fA-F]*$")
_HOST_CHARS = re.compile(r"^[a-z0-9._-]+$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # control characters, whitespace, backslash
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # UTS 46 label separators
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPAT = ipaddress.IPv6Network("::/96")


class SsrfError(ValueError):
    """A URL the custom action must not be sent; the message is one line saying why.

    `address` is the blocked address (or `localhost`) when that is the reason."""

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


def check_url(url: str, *, same_host_as: str | None = None) -> str:
    """`url` unchanged if it may be called; SsrfError otherwise.

    `same_host_as` (a URL already checked) makes a URL on another host an error: a
    `next_url` must stay on the stream's own host, so a reply cannot steer the
    connection's credentials to a server of its choosing.
    """
    host = url_host(url)
    if same_host_as is not None and host != url_host(same_host_as):
        raise SsrfError(f"url {_show(url)} leaves the stream's host {url_host(same_host_as)} for {host}")
    return url


def url_host(url: str) -> str:
    """The host `url` would connect to, normalised (lower case, no trailing dot);
    SsrfError if the URL is not a plain http(s) URL or its host is a blocked address."""
    if not isinstance(url, str):
        raise SsrfError(f"url is {type(url).__name__}, expected a string")
    if len(url) > _MAX_URL:
        raise SsrfError(f"url is {len(url)} characters long, more than {_MAX_URL}")
    if _UNSAFE.search(url):
        raise SsrfError(f"url {_show(url)} contains a backslash, whitespace or a control character")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise SsrfError(f"url {_show(url)} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(("http://", "https://")):
        raise SsrfError(f"url {_show(url)} must be a full http:// or https:// URL")
    netloc = parts.netloc.rpartition("@")[2]
    if netloc.startswith("["):
        literal, bracket, _ = netloc[1:].partition("]")
        if not bracket:
            raise SsrfError(f"url {_show(url)} has an unclosed [ in its host")
        return _check_ipv6(url, literal)
    host = _domain(url, netloc.partition(":")[0])
    _check_ipv4_host(url, host)
    return host


def _domain(url: str, raw: str) -> str:
    """The host after percent-decoding and IDNA mapping, as a URL parser would see it."""
    try:
        host = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        raise SsrfError(f"url {_show(url)} has a percent-encoded host that is not UTF-8") from None
    host = host.translate(_DOTS)
    if not host.isascii():
        try:
            host = ".".join(label.encode("idna").decode("ascii") if label else "" for label in host.split("."))
        except UnicodeError:
            raise SsrfError(f"url {_show(url)} has a host that is not a valid domain name") from None
    host = host.lower()
    if host.endswith(".") and len(host) > 1:
        host = host[:-1]
    if not host or not _HOST_CHARS.match(host) or "" in host.split("."):
        raise SsrfError(f"url {_show(url)} has no valid host name")
    if host == "localhost" or host.endswith(".localhost"):
        raise SsrfError(f"url {_show(url)} targets localhost, which is the loopback address", "localhost")
    return host


def _check_ipv4_host(url: str, host: str) -> None:
    """Parse a host whose last label is a number as IPv4 (WHATWG "ends in a number")."""
    labels = host.split(".")
    last = labels[-1]
    if not (last.isdigit() or _HEX_NUMBER.match(last)):
        return  # a domain name: nothing here to refuse
    address = _parse_ipv4(labels)
    if address is None:
        raise SsrfError(f"url {_show(url)} has a host that looks like an IPv4 address but is not one")
    _refuse_blocked(url, address)


def _parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """inet_aton / WHATWG IPv4 parsing; None when the host is not a valid address."""
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    *head, tail = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or tail >= 256 ** (5 - len(numbers)):
        return None
    value = tail
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int | None:
    if not label:
        return None
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:], 16
        if not digits:
            return 0  # WHATWG reads a bare "0x" as zero
    elif len(label) > 1 and label[0] == "0":
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def _check_ipv6(url: str, literal: str) -> str:
    try:
        if "%" in literal:  # a zone id: no URL parser accepts one
            raise ValueError(literal)
        address = ipaddress.IPv6Address(literal)
    except ValueError:
        raise SsrfError(f"url {_show(url)} has an invalid IPv6 host [{literal[:60]}]") from None
    _refuse_blocked(url, address)
    return f"[{address.compressed}]"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _COMPAT and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refuse_blocked(url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Judge the address and any IPv4 address inside it. An IPv4-mapped address is
    the IPv4 address itself (its ::ffff:0:0/96 prefix is only a spelling)."""
    inner = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    judged = [inner] if inner is not None else []
    if not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None):
        judged.append(address)
    for candidate in judged:
        reason = _blocked_reason(candidate)
        if reason is not None:
            via = f" (in {address.compressed})" if candidate is not address else ""
            raise SsrfError(f"url {_show(url)} targets the internal IP {candidate}{via}: {reason}", str(candidate))


def _blocked_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not routable on the public internet, or None if it is."""
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not globally routable"),  # CGNAT 100.64/10 and the like
    )
    return next((reason for blocked, reason in checks if blocked), None)


def _show(url: str) -> str:
    return repr(url if len(url) <= 120 else url[:117] + "...")

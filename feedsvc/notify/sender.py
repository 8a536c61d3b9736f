"""Outgoing HTTP for webhooks and WebSub: target checks against SSRF and a connection pinned
to the checked address (no DNS-rebinding window between the check and the connect).

urllib3's connection pool is opened to the checked IP while the ``Host`` header, TLS SNI
(``server_hostname``) and certificate check (``assert_hostname``) keep the URL's host name;
no retries and no redirects (a 3xx is a failure); at most MAX_RESPONSE bytes are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError

TIMEOUT = 10.0  # seconds, for the connect and for each read
MAX_RESPONSE = 4096  # bytes of the answer kept for the delivery log / challenge check
USER_AGENT = "feedsvc-push/0.1 (+https://www.standardwebhooks.com/)"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: any IPv4 behind it, local use
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (:: and ::1 are caught as such)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")


class TargetError(ValueError):
    """A URL feedsvc refuses to send to, with the reason."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host and SNI)
    port: int
    address: str  # the checked IP to connect to
    path: str  # path and query


@dataclass(frozen=True)
class Result:
    status: int | None  # None: no HTTP answer (connection error, timeout)
    body: bytes
    headers: dict[str, str]
    error: str | None
    duration: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def refused_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public unicast address: loopback, private (RFC 1918, ULA),
    link-local, CGNAT (RFC 6598), multicast, unspecified, reserved. An IPv6 address that
    carries an IPv4 address is judged by every IPv4 address it carries as well: IPv4-mapped and
    IPv4-compatible (RFC 4291 2.5.5), IPv4-translated (RFC 2765), NAT64 (RFC 6052), 6to4
    (RFC 3056: ``2002:7f00:1::1`` is 127.0.0.1, yet ``is_global`` in Python 3.11), Teredo
    (RFC 4380: server and client) and ISATAP (RFC 5214) interface identifiers."""
    if isinstance(ip, ipaddress.IPv6Address) and ip != _IPV6_LOOPBACK and ip.packed[:12] != bytes(12):
        # IPv4-mapped, -translated and NAT64 addresses stand for the IPv4 address they carry
        if ip.ipv4_mapped is not None or ip in _TRANSLATED or ip in _NAT64:
            return refused_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for label in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{label}"):
            return label.replace("_", "-")
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "CGNAT"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return "local-use NAT64"
        for carried in embedded_ipv4(ip):
            reason = refused_reason(carried)
            if reason:
                return f"{reason} (embedded in {ip})"
    if not ip.is_global:
        return "not global"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries in one of the standard embeddings."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _COMPATIBLE or ip in _TRANSLATED or ip in _NAT64:
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id ::0:5efe:a.b.c.d or ::200:5efe:...
        found.append(low32)
    return found


def ascii_digits(text: str, most: int) -> bool:
    """``text`` is 1 to ``most`` ASCII digits (``str.isdigit`` also accepts "²" and "١٢٣",
    which ``int`` then refuses or reads)."""
    return 0 < len(text) <= most and all("0" <= c <= "9" for c in text)


def resolve(url: str, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host: every address must pass (getaddrinfo also reads
    ``2130706433`` and ``0x7f.1`` as 127.0.0.1, so odd notations are judged as what they are)."""
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        # sent as is on the request line: non-ASCII, spaces and control characters (CR LF)
        raise TargetError("URL must be ASCII without spaces or control characters (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError("URL must be absolute http or https")
    if parts.username or parts.password:
        raise TargetError("URL must not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not allow_private:
        for address in addresses:
            reason = refused_reason(ipaddress.ip_address(address))
            if reason:
                raise TargetError(f"{parts.hostname} resolves to a {reason} address ({address})")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, addresses[0], path)


def _pool(target: Target, timeout: float) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address; TLS is verified against the URL's host."""
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(target.address, target.port, timeout=limits, maxsize=1, retries=False,
                                           cert_reqs="CERT_REQUIRED", server_hostname=target.host,
                                           assert_hostname=target.host)
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, maxsize=1, retries=False)


def host_header(target: Target) -> str:
    """RFC 9110 7.2: the URL's host (IPv6 in brackets) and its port unless the scheme's default."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def send(method: str, url: str, body: bytes | None, headers: dict[str, str], allow_private: bool,
         timeout: float = TIMEOUT) -> Result:
    """One HTTP request to a checked, pinned address; never raises for network trouble."""
    started = time.monotonic()
    try:
        target = resolve(url, allow_private)
    except TargetError as exc:
        return Result(None, b"", {}, f"refused: {exc}", time.monotonic() - started)
    pool = _pool(target, timeout)
    response = None
    try:
        response = pool.urlopen(method, target.path, body=body,
                                headers={"Host": host_header(target), "User-Agent": USER_AGENT, **headers},
                                retries=False, redirect=False, preload_content=False, decode_content=False,
                                release_conn=False)
        data = response.read(MAX_RESPONSE)
        answer = {k.lower(): v for k, v in response.headers.items()}
        return Result(response.status, data, answer, None, time.monotonic() - started)
    except (OSError, HTTPError, http.client.HTTPException) as exc:
        return Result(None, b"", {}, f"{type(exc).__name__}: {exc}"[:500], time.monotonic() - started)
    finally:
        if response is not None:
            response.close()  # the rest of the answer is not read: drop the connection
        pool.close()

"""Fetching a URL on a client's behalf without letting the client reach what only the
server can: http(s) only, and no loopback, private, link-local, multicast or otherwise
non-public address unless an administrator allowed the host (`downloads.allow_hosts`).
The address is checked where the connection is made (a name that resolves to a public
address for the check and a private one for the connection gains nothing), and again on
every redirect (at most five)."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Collection
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class RefusedUrl(Exception):
    """A URL the server will not fetch; the message says why."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class UrlGuard:
    def __init__(self, allow_hosts: Collection[str] = ()) -> None:
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())

    def check(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, path with query) of a URL that may be fetched."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise RefusedUrl(f"{url[:200]!r} is not a URL.") from None
        if parts.scheme not in ("http", "https"):
            raise RefusedUrl(f"Only http and https URLs are fetched, not {parts.scheme!r}.")
        host = (parts.hostname or "").lower()
        if not host:
            raise RefusedUrl(f"{url[:200]!r} names no host.")
        port = port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.scheme, host, port, path

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be connected to (RefusedUrl when none)."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise RefusedUrl(f"The host {host!r} does not resolve.") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if host in self.allow_hosts:
            return addresses
        allowed = [a for a in addresses if _public(a)]
        if not allowed:
            raise RefusedUrl(
                f"The host {host!r} is a loopback, private, link-local or multicast address; "
                "the server does not fetch from those (an administrator may allow a host in "
                "downloads.allow_hosts)."
            )
        return allowed

    def allows_peer(self, host: str, address: str) -> bool:
        return host in self.allow_hosts or _public(address)


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, guard: UrlGuard, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._guard = guard

    def _open_socket(self) -> socket.socket:
        error: OSError | None = None
        for address in self._guard.addresses(self.host, self.port):
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
            except OSError as exc:
                error = exc
                continue
            if not self._guard.allows_peer(self.host, str(sock.getpeername()[0])):
                sock.close()
                raise RefusedUrl(f"The host {self.host!r} connected to a non-public address.")
            return sock
        raise error or OSError(f"cannot connect to {self.host}")

    def connect(self) -> None:
        self.sock = self._open_socket()


class _GuardedHTTPS(_GuardedHTTP):
    default_port = 443

    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._open_socket(), server_hostname=self.host)


def open_url(
    guard: UrlGuard,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[http.client.HTTPResponse, str]:
    """The response to `url` after following redirects (each checked), and its final URL.
    The caller reads and closes the response."""
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = guard.check(url)
        kind = _GuardedHTTPS if scheme == "https" else _GuardedHTTP
        connection = kind(guard, host, port, timeout)
        try:
            connection.request(method, path, headers={"User-Agent": "assetdav", **(headers or {})})
            response = connection.getresponse()
        except RefusedUrl:
            connection.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ConnectionError(f"{host}: {exc}") from None
        location = response.getheader("Location")
        if response.status in REDIRECTS and location:
            response.close()
            connection.close()
            url = urljoin(url, location)
            continue
        return response, url
    raise RefusedUrl(f"More than {MAX_REDIRECTS} redirects; the server stops following them.")

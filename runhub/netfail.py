"""What a network failure means: retryable or not, in a few words, and what to do.

The transport asks :func:`classify` about every httpx exception. Errors that no
retry can fix are final at once: a certificate that does not verify (or names
another host), and TLS spoken to a plain-HTTP server (``WRONG_VERSION_NUMBER``:
usually a URL written without ``http://``, which runhub completes with
``https://``). Connection refused and unknown host are retried briefly
(``RetryPolicy.unreachable_for``) while the platform has never answered: that is
a wrong URL far more often than an outage.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

#: OpenSSL reasons seen when a TLS client talks to a server that answers plain HTTP.
_PLAIN_HTTP = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)
#: Transient TLS failures (a connection cut during the handshake): retried.
_TRANSIENT_TLS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError)


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as the retry policy and the user see it."""

    #: refused | unknown-host | certificate | plain-http | tls | timeout | other
    kind: str
    #: A few words for retry notices: "connection refused", "timed out".
    reason: str
    #: True if no retry can help.
    final: bool = False
    hint: str | None = None

    @property
    def unreachable(self) -> bool:
        """Nothing answered at that address (refused, or the name did not resolve)."""
        return self.kind in ("refused", "unknown-host")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}"


def classify(exc: httpx.HTTPError, url: httpx.URL) -> Failure:
    """What ``exc``, raised by a request to ``url``, means."""
    text = " ".join(str(e) for e in _chain(exc))
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = getattr(cause, "verify_message", None) or "certificate verify failed"
            return Failure(
                "certificate",
                f"certificate not trusted ({detail})",
                final=True,
                hint="runhub always verifies TLS: fix the server's certificate, or point "
                "SSL_CERT_FILE at the CA bundle that signed it",
            )
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, _TRANSIENT_TLS):
            return _tls(cause, url)
        if isinstance(cause, ConnectionRefusedError):
            return _refused(url)
        if isinstance(cause, socket.gaierror):
            return _unknown_host(url)
    if "WRONG_VERSION_NUMBER" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return Failure("tls", "TLS failed", final=True)  # mapped without its cause
    if "Connection refused" in text or "Errno 111" in text:
        return _refused(url)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return _unknown_host(url)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", "timed out")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Failure("dropped", "connection dropped")
    return Failure("other", type(exc).__name__)


def _tls(cause: ssl.SSLError, url: httpx.URL) -> Failure:
    reason = str(cause.reason or "")
    if reason in _PLAIN_HTTP and url.scheme == "https":
        plain = url.copy_with(scheme="http", path="", query=None, fragment=None)
        return Failure(
            "plain-http",
            "the server answered in plain HTTP, not TLS",
            final=True,
            hint=f"did you mean {str(plain).rstrip('/')}?",
        )
    return Failure("tls", f"TLS failed ({reason or cause})", final=True)


def _proxy(url: httpx.URL) -> str | None:
    """The environment's proxy for ``url`` (as urllib reads it), if any."""
    from urllib.request import getproxies, proxy_bypass

    proxies = getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or proxy_bypass(url.host):
        return None
    return proxy.rsplit("@", 1)[-1]  # never a proxy password


def _refused(url: httpx.URL) -> Failure:
    proxy = _proxy(url)
    if proxy:
        where = f"the proxy {proxy} refused the connection: check HTTPS_PROXY/HTTP_PROXY/ALL_PROXY"
    else:
        where = f"nothing listens at {_origin(url)}: check the platform URL"
    return Failure("refused", "connection refused", hint=where)


def _unknown_host(url: httpx.URL) -> Failure:
    return Failure(
        "unknown-host",
        "unknown host",
        hint=f"{url.host!r} does not resolve: check the platform URL",
    )

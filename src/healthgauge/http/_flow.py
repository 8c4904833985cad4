"""One GET as both drivers run it: the redirect loop, the status rule, the TLS settings and the words
for OS and TLS failures. ``http.fetch`` (blocking, ``check``) and ``http._client`` (asyncio, the
agent) only move bytes; what they do with the answers is decided here, once.

The flow is a sans-I/O state machine (the role httpx's ``auth_flow`` generator plays there, with
h11's shape): it names the next request (:attr:`GetFlow.url`, :attr:`GetFlow.request`), the driver
hands it the :class:`ResponseParser` that holds the answer, and the flow says whether that was the
page or names the next request (a redirect). It does no I/O and reads no clock; the deadline stays
the driver's.

The status rule: **a page is a 200 answer**, as Prometheus takes it (``scrape/scrape.go``): any
other final status, 2xx included (204 carries no page; 206 a part of one), raises
:class:`StatusError` naming it. Redirects (301, 302, 303, 307, 308) are followed up to
:data:`MAX_REDIRECTS` times, to the same host only (``_url.follow_redirect``).

On the check path (DEVELOPERS.md): no module-level import beyond the core; ``ssl`` is imported
only when a TLS context is first made.
"""

from __future__ import annotations

from healthgauge.http._http11 import REDIRECTS, ConnectError, RedirectError, StatusError, TLSError
from healthgauge.http._url import build_request, follow_redirect

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Sequence

    from healthgauge.http._http11 import ResponseParser
    from healthgauge.http._url import URL

# Kubernetes follows at most 10 redirects and only to the same host; curl -L follows 50. A metrics
# endpoint moves at most once or twice (e.g. /metrics -> /metrics/), so 3 is the cap.
MAX_REDIRECTS = 3
#: The one status whose answer is a page.
PAGE_STATUS = 200


class GetFlow:
    """The exchanges of one GET of ``url``, as a small state machine the driver runs::

        flow = GetFlow(url, headers)
        while not flow.answer(exchange(flow.url, flow.request)):
            pass
        flow.url, flow.parser  # the page's URL and its parsed 200 answer

    ``request``: the first request's bytes when the caller built them once. :meth:`answer` raises
    :class:`RedirectError` for a redirect that is not followed (naming the URL that answered) and
    :class:`StatusError` for a final status other than 200 (naming none: ``check`` adds the URL it
    fetched, the agent's errors are per target already).
    """

    __slots__ = ("first", "headers", "hop", "max_redirects", "parser", "request", "url")

    def __init__(
        self, url: URL, headers: Sequence[tuple[str, str]], *, max_redirects: int = MAX_REDIRECTS, request: bytes = b""
    ) -> None:
        self.first = url
        self.url = url
        self.headers = headers
        self.request = request or build_request(url, headers)
        self.max_redirects = max_redirects
        self.hop = 0
        self.parser: ResponseParser | None = None

    def answer(self, parser: ResponseParser) -> bool:
        """Take the answer to :attr:`request`: True when it is the page (then :attr:`parser`),
        False when :attr:`url` and :attr:`request` now name the next exchange (a redirect)."""
        if parser.status not in REDIRECTS:
            check_status(parser.status, parser.reason)
            self.parser = parser
            return True
        location = parser.header("location")
        try:
            self.url = follow_redirect(self.url, parser.status, location, self.hop, self.max_redirects, str(self.first))
        except RedirectError as exc:  # every redirect error names the URL that answered
            exc.url = exc.url or str(self.url)
            raise
        self.request = build_request(self.url, self.headers)
        self.hop += 1
        return False


def check_status(status: int, reason: str) -> None:
    """The status rule, once: 200 is a page, anything else is :class:`StatusError`."""
    if status != PAGE_STATUS:
        raise StatusError(f"HTTP {status} {reason}".rstrip(), status=status)


_contexts: dict[tuple[str, bool], ssl.SSLContext] = {}


def tls_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """One client context per (``ca_file``, ``insecure``), shared by whoever uses it: the system's
    CAs (or ``ca_file``'s) with the host name checked, or no verification. An unreadable
    ``ca_file`` raises ``OSError``."""
    key = (ca_file or "", insecure)
    context = _contexts.get(key)
    if context is None:
        import ssl

        context = ssl.create_default_context(cafile=ca_file or None)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _contexts[key] = context
    return context


def os_reason(exc: BaseException) -> str:
    """An OS or TLS error as a short phrase: ``connection refused``, ``name or service not known``.

    The system's words for the error number come first: asyncio words a refused connection
    ``Connect call failed ('127.0.0.1', 9100)``, a blocking socket ``Connection refused``."""
    errno = getattr(exc, "errno", None)
    name = type(exc).__name__
    if name != "gaierror" and not name.startswith("SSL") and isinstance(errno, int) and errno > 0:
        from posix import strerror

        text = strerror(errno)
        return text[:1].lower() + text[1:]
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text)[:1].lower() + str(text)[1:]


def connect_error(exc: BaseException, where: str) -> ConnectError:
    """No connection to ``where`` (``host:port``): ``connection refused connecting to 127.0.0.1:9``."""
    return ConnectError(f"{os_reason(exc)} connecting to {where}")


def handshake_error(exc: BaseException, hint: str = "") -> TLSError:
    """A failed TLS handshake; ``hint`` (how to trust the peer) follows a failed verification."""
    message = getattr(exc, "verify_message", None)
    if type(exc).__name__ == "SSLCertVerificationError":
        return TLSError(f"certificate verification failed: {message}{hint}")
    return TLSError(f"TLS handshake failed: {os_reason(exc)}")

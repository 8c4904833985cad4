"""URLs and the request bytes for one GET: parsing, redirect resolution, header validation. Pure.

On the check path (DEVELOPERS.md, "The check path"): written by hand instead of ``urllib.parse``,
which imports ``re`` and more. Follows RFC 3986 for URLs and RFC 9110 for header fields.
"""

from __future__ import annotations

from healthgauge.http._http11 import RedirectError, RequestError, excerpt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_HEX = frozenset(b"0123456789abcdefABCDEF")
# RFC 9110 §5.6.2 token characters, for header names.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class URL:
    """An http(s) URL split the way a client needs it: where to connect and what to ask for."""

    __slots__ = ("host", "port", "scheme", "target", "userinfo")

    def __init__(self, scheme: str, host: str, port: int, target: str, userinfo: str = "") -> None:
        self.scheme = scheme
        self.host = host  # an IPv6 literal without its brackets
        self.port = port
        self.target = target  # path and query, never empty
        self.userinfo = userinfo

    @property
    def authority(self) -> str:
        """``host[:port]`` as the Host header and URLs write it (the default port left out)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URL) and str(self) == str(other) and self.userinfo == other.userinfo

    def __hash__(self) -> int:
        return hash(str(self))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url(text: str) -> URL:
    """Split an absolute http(s) URL (RFC 3986); a URL without a scheme is taken as ``http://``.

    Raises RequestError naming the offending part: an unsupported scheme, an empty or invalid host,
    a port out of range, whitespace or control characters.
    """
    for ch in text:
        if ch <= " " or ch == "\x7f":
            raise RequestError(f"invalid URL {excerpt(text)}: it contains whitespace or a control character")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise RequestError(f"invalid URL {excerpt(text)}: scheme {scheme!r} is not http or https")
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1 and at < end:
            end = at
    authority, target = rest[:end], rest[end:].partition("#")[0]
    userinfo, _, hostport = authority.rpartition("@")
    host, port = _split_hostport(hostport, scheme, text)
    if not target.startswith("/"):
        target = "/" + target
    return URL(scheme, host, port, _quote_non_ascii(target), userinfo)


def _split_hostport(hostport: str, scheme: str, text: str) -> tuple[str, int]:
    if hostport.startswith("["):
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise RequestError(f"invalid URL {excerpt(text)}: unterminated IPv6 address")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise RequestError(f"invalid URL {excerpt(text)}: no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise RequestError(f"invalid URL {excerpt(text)}: host {host!r} is not a valid name ({exc})") from None
    _check_host(host, text)
    if not port_text:
        return host.lower(), _DEFAULT_PORTS[scheme]
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise RequestError(f"invalid URL {excerpt(text)}: port {port_text!r} is not a number from 1 to 65535")
    return host.lower(), int(port_text)


def _check_host(host: str, text: str) -> None:
    """A DNS name has labels of 1-63 octets, 253 in all (RFC 1035 §2.3.4); an IPv6 literal is left to
    the resolver. Refused here, the resolver never sees (or queries for) a name that cannot exist."""
    if ":" in host:
        return
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(0 < len(label) <= 63 for label in labels):
        raise RequestError(f"invalid URL {excerpt(text)}: host {excerpt(host)} is not a valid DNS name")
    for ch in host:
        if ch in "/\\?#@[]%":
            raise RequestError(f"invalid URL {excerpt(text)}: host {excerpt(host)} holds {ch!r}")


def _quote_non_ascii(target: str) -> str:
    """Percent-encode what may not appear raw in a request target (non-ASCII, as UTF-8)."""
    if target.isascii():
        return target
    return "".join(ch if ch.isascii() else "".join(f"%{b:02X}" for b in ch.encode()) for ch in target)


def resolve_location(base: URL, location: str) -> URL:
    """The URL a redirect's Location points to, relative references resolved against ``base``."""
    location = location.strip()
    if not location:
        raise RedirectError("redirect with an empty Location header")
    head = location.partition("/")[0].partition("?")[0]
    if "://" in location and ":" in head:
        return parse_url(location)
    if location.startswith("//"):
        return parse_url(f"{base.scheme}:{location}")
    if location.startswith("/"):
        path = location
    elif location.startswith("?"):
        path = base.target.partition("?")[0] + location
    else:
        path = base.target.partition("?")[0].rpartition("/")[0] + "/" + location
    resolved = parse_url(f"{base.scheme}://{base.authority}{_remove_dot_segments(path)}")
    resolved.userinfo = base.userinfo
    return resolved


def follow_redirect(target: URL, status: int, location: str | None, hop: int, max_redirects: int, first: str) -> URL:
    """Where redirect number ``hop`` (from 0) leads, or RedirectError: the one rule for every
    client here (``check``'s fetch and the agent's scrape). Only the same host is followed, as the
    kubelet does (another port or scheme on that host is the same host), at most ``max_redirects``
    times; the error names the URL that answered (``first`` when there were too many)."""
    if location is None:
        raise RedirectError(f"HTTP {status} without a Location header", url=str(target))
    try:
        next_url = resolve_location(target, location)
    except RequestError as exc:
        raise RedirectError(f"HTTP {status} to an invalid Location: {exc.message}", url=str(target)) from None
    if next_url.host != target.host:
        raise RedirectError(
            f"HTTP {status} to another host ({next_url}): not followed, only same-host redirects are",
            url=str(target),
        )
    if hop >= max_redirects:
        raise RedirectError(f"more than {max_redirects} redirects (the last to {next_url})", url=first)
    return next_url


def _remove_dot_segments(target: str) -> str:
    """RFC 3986 §5.2.4, on the path part only."""
    path, q, query = target.partition("?")
    out: list[str] = []
    segments = path.split("/")
    for segment in segments[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out) + q + query


def build_request(url: URL, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """The bytes of ``GET target HTTP/1.1`` with Host and ``headers`` (given names win over defaults).

    Raises RequestError for a header name that is not a token or a value with CR, LF or NUL: a
    header must never smuggle a second one in.
    """
    lines = [f"GET {url.target} HTTP/1.1"]
    given = {name.lower() for name, _ in headers}
    if "host" not in given:
        lines.append(f"Host: {url.authority}")
    if url.userinfo and "authorization" not in given:
        lines.append(f"Authorization: Basic {_basic(url.userinfo)}")
    for name, value in headers:
        check_header(name, value)
        lines.append(f"{name}: {value}")
    lines += ("", "")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise RequestError(f"the URL holds {excerpt(exc.object[exc.start : exc.end])}, not Latin-1 text") from None


def check_header(name: str, value: str) -> None:
    """Raise RequestError unless ``name: value`` is one valid header line (RFC 9110 §5.1, §5.5)."""
    if not name or not name.isascii() or not _TOKEN.issuperset(name.encode()):
        raise RequestError(
            f"invalid header name {excerpt(name)}: it must be a token (letters, digits, -_.!#$%&'*+^`|~)"
        )
    # The value is never quoted: header values are where tokens and API keys go.
    if "\r" in value or "\n" in value or "\0" in value:
        raise RequestError(f"invalid value for header {name}: it holds CR, LF or NUL (the value is not shown)")
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise RequestError(
                f"invalid value for header {name}: it is not Latin-1 text (the value is not shown)"
            ) from None


def _basic(userinfo: str) -> str:
    from binascii import b2a_base64

    from_url = _percent_decode(userinfo)
    return b2a_base64(from_url.encode(), newline=False).decode("ascii")


def _percent_decode(text: str) -> str:
    if "%" not in text:
        return text
    raw = text.encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        pair = raw[i + 1 : i + 3]
        if raw[i] == 0x25 and len(pair) == 2 and _HEX.issuperset(pair):
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")

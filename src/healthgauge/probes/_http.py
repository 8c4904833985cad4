"""``kind = "http"``: one request, judged as Prometheus's blackbox_exporter judges it.

Settings: ``url``, ``method`` (GET), ``headers``, ``body``, ``expect_status`` (a list of codes;
any 2xx when not given, as blackbox's ``valid_status_codes``), ``body_regex`` (the body must
match: blackbox's ``fail_if_body_not_matches_regexp``), ``follow_redirects`` (true: up to 3, to
the same host only, the project's one redirect rule), ``insecure`` and ``ca_file`` for https.

Samples, with blackbox's names: ``probe_http_status_code`` (0 when no answer came),
``probe_http_redirects``, ``probe_http_content_length`` (bytes of body read) and, over https,
``probe_ssl_earliest_cert_expiry`` (Unix seconds; the leaf certificate's, see ``_tls``), so
``probe_ssl_earliest_cert_expiry - time() > 14 * 86400`` warns two weeks ahead.

The wire is the project's own HTTP/1.1 client core (``_url`` builds the request, ``_http11``'s
``ResponseParser`` reads the answer) over the agent client's asyncio connection; every probe opens
a fresh connection (a health probe measures connecting too) and closes it.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

from healthgauge.exposition import Sample
from healthgauge.http._client import _Connection
from healthgauge.http._flow import os_reason
from healthgauge.http._http11 import REDIRECTS, FetchError, RequestError, ResponseParser, decode_body
from healthgauge.http._url import URL, build_request, follow_redirect, parse_url
from healthgauge.probes._base import ProbeError, Result, sample
from healthgauge.probes._spec import SpecError, Table
from healthgauge.probes._tls import expiry

KEYS = ("url", "method", "headers", "body", "expect_status", "body_regex", "follow_redirects", "insecure", "ca_file")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
MAX_REDIRECTS = 3
#: Body read per probe (for ``body_regex``), as blackbox's default ``body_size_limit`` is none but a
#: health page is small: 1 MiB bounds memory and the regex's work.
MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpSpec:
    url: URL
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    expect_status: frozenset[int] | None
    body_regex: re.Pattern[str] | None
    follow_redirects: bool
    tls: ssl.SSLContext


def make(table: Table, timeout: float) -> HttpProbe:
    del timeout
    text = table.text("url")
    try:
        url = parse_url(text)
    except RequestError as exc:
        raise SpecError(f"{table.where('url')}: {exc.message}") from None
    if not text.lower().startswith(("http://", "https://")):
        raise SpecError(f'{table.where("url")}: an http:// or https:// URL, got "{text}"')
    method = table.text("method", "GET").upper()
    if method not in METHODS:
        raise SpecError(f"{table.where('method')}: one of {', '.join(METHODS)}, got {method!r}")
    codes = table.raw.get("expect_status")
    if codes is not None and (
        not isinstance(codes, list) or not codes or not all(isinstance(c, int) and 100 <= c <= 599 for c in codes)
    ):
        raise SpecError(f"{table.where('expect_status')}: a list of HTTP status codes, e.g. [200, 204], got {codes!r}")
    pattern = None
    if "body_regex" in table.raw:
        try:
            pattern = re.compile(table.text("body_regex"))
        except re.error as exc:
            raise SpecError(f"{table.where('body_regex')}: invalid regex: {exc}") from None
    headers = table.headers()
    try:
        build_request(url, headers)
    except RequestError as exc:
        raise SpecError(f"{table.where('headers')}: {exc.message}") from None
    context = ssl.create_default_context()
    if "ca_file" in table.raw:
        try:
            context = ssl.create_default_context(cafile=table.path("ca_file"))
        except OSError as exc:
            raise SpecError(f"{table.where('ca_file')}: cannot load: {exc.strerror or exc}") from None
    if table.flag("insecure"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    spec = HttpSpec(
        url=url,
        method=method,
        headers=headers,
        body=table.text("body", "").encode(),
        expect_status=frozenset(codes) if codes else None,
        body_regex=pattern,
        follow_redirects=table.flag("follow_redirects", True),
        tls=context,
    )
    return HttpProbe(spec)


def request_bytes(spec: HttpSpec, url: URL) -> bytes:
    """The request: the shared GET builder's head with the method and body put in."""
    headers = (*spec.headers, ("Connection", "close"))
    if spec.body or spec.method in ("POST", "PUT", "PATCH"):
        headers = (*headers, ("Content-Length", str(len(spec.body))))
    head = build_request(url, headers)
    return spec.method.encode() + head[3:] + spec.body


class HttpProbe:
    kind = "http"

    def __init__(self, spec: HttpSpec) -> None:
        self.spec = spec

    def describe(self) -> str:
        return str(self.spec.url)

    async def probe(self, budget: float) -> Result:
        del budget  # run() holds the deadline
        spec = self.spec
        url, redirects, cert = spec.url, 0, None
        while True:
            try:
                parser, cert_now = await self._exchange(url)
            except (FetchError, ProbeError) as exc:
                return _failed(str(exc), redirects, cert)
            cert = cert_now if cert_now is not None else cert
            if parser.status not in REDIRECTS or not spec.follow_redirects:
                break
            try:
                url = follow_redirect(
                    url, parser.status, parser.header("location"), redirects, MAX_REDIRECTS, str(spec.url)
                )
            except FetchError as exc:
                return _failed(str(exc), redirects, cert, parser.status)
            redirects += 1
        return self._judge(parser, redirects, cert)

    def _judge(self, parser: ResponseParser, redirects: int, cert: float | None) -> Result:
        spec = self.spec
        body = b""
        try:
            if spec.body_regex is not None:
                body = bytes(decode_body(parser.body(), parser.header("content-encoding"), MAX_BODY))
        except FetchError as exc:
            return _failed(str(exc), redirects, cert, parser.status)
        samples = _samples(parser.status, redirects, cert, len(parser.body()))
        expected = spec.expect_status
        if (parser.status not in expected) if expected is not None else not 200 <= parser.status < 300:
            want = ", ".join(map(str, sorted(expected))) if expected is not None else "2xx"
            return Result(False, samples, f"HTTP {parser.status} {parser.reason}, expected {want}".replace("  ", " "))
        if spec.body_regex is not None and not spec.body_regex.search(body.decode("utf-8", "replace")):
            return Result(False, samples, f"the body does not match /{spec.body_regex.pattern}/")
        return Result(True, samples)

    async def _exchange(self, url: URL) -> tuple[ResponseParser, float | None]:
        loop = asyncio.get_running_loop()
        https = url.scheme == "https"
        try:
            transport, connection = await loop.create_connection(
                _Connection,
                url.host,
                url.port,
                ssl=self.spec.tls if https else None,
                server_hostname=url.host if https else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise ProbeError(f"certificate verification failed: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise ProbeError(f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect to {url.authority}: {os_reason(exc)}") from None
        try:
            cert = expiry(transport.get_extra_info("ssl_object")) if https else None
            only_2xx = self.spec.body_regex is None
            parser = ResponseParser(max_body=MAX_BODY, only_2xx_bodies=only_2xx)
            answered, _ = await connection.exchange(request_bytes(self.spec, url), parser)
            return answered, cert
        finally:
            connection.close()

    async def close(self) -> None:
        return None


def _samples(status: int, redirects: int, cert: float | None, length: int) -> tuple[Sample, ...]:
    out = [
        sample("probe_http_status_code", status),
        sample("probe_http_redirects", redirects),
        sample("probe_http_content_length", length),
    ]
    if cert is not None:
        out.append(sample("probe_ssl_earliest_cert_expiry", cert))
    return tuple(out)


def _failed(error: str, redirects: int, cert: float | None, status: int = 0) -> Result:
    return Result(False, _samples(status, redirects, cert, 0), error)

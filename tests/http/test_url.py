"""URLs, redirect targets and request bytes: pure, no I/O."""

import pytest

from healthgauge.http._url import URL, build_request, check_header, parse_url, resolve_location
from healthgauge.http.fetch import RedirectError, RequestError


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port", "target"),
    [
        ("http://127.0.0.1:9100/metrics", "http", "127.0.0.1", 9100, "/metrics"),
        ("HTTP://Example.COM/metrics?x=1#frag", "http", "example.com", 80, "/metrics?x=1"),
        ("https://example.com", "https", "example.com", 443, "/"),
        ("https://example.com?q", "https", "example.com", 443, "/?q"),
        ("http://[::1]:8080/m", "http", "::1", 8080, "/m"),
        ("http://[::1]/m", "http", "::1", 80, "/m"),
        ("localhost:9100/metrics", "http", "localhost", 9100, "/metrics"),
        ("http://user:p%40ss@host:1/", "http", "host", 1, "/"),
        ("http://bücher.example/ä", "http", "xn--bcher-kva.example", 80, "/%C3%A4"),
    ],
)
def test_parse_url(text: str, scheme: str, host: str, port: int, target: str) -> None:
    url = parse_url(text)
    assert (url.scheme, url.host, url.port, url.target) == (scheme, host, port, target)


def test_url_text_leaves_the_default_port_out() -> None:
    assert str(parse_url("http://h:80/m")) == "http://h/m"
    assert str(parse_url("https://[::1]:8443/m")) == "https://[::1]:8443/m"
    assert parse_url("http://h:80/m") == parse_url("http://h/m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://host/", "scheme 'ftp' is not http or https"),
        ("http:///metrics", "no host"),
        ("http://host:0/", "port '0' is not a number from 1 to 65535"),
        ("http://host:65536/", "port '65536'"),
        ("http://host:12ab/", "port '12ab'"),
        ("http://[::1/", "unterminated IPv6 address"),
        ("http://host/a b", "whitespace or a control character"),
        ("http://host/\x00", "whitespace or a control character"),
    ],
)
def test_bad_urls_are_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        parse_url(text)


BASE = parse_url("http://127.0.0.1:9100/app/metrics?x=1")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/other", "http://127.0.0.1:9100/other"),
        ("other", "http://127.0.0.1:9100/app/other"),
        ("../up/./m", "http://127.0.0.1:9100/up/m"),
        ("?y=2", "http://127.0.0.1:9100/app/metrics?y=2"),
        ("//localhost:9100/m", "http://localhost:9100/m"),
        ("https://127.0.0.1:9443/m", "https://127.0.0.1:9443/m"),
        ("/a/b/..", "http://127.0.0.1:9100/a/"),
    ],
)
def test_resolve_location(location: str, expected: str) -> None:
    assert str(resolve_location(BASE, location)) == expected


def test_resolve_location_keeps_credentials_on_relative_redirects() -> None:
    assert resolve_location(parse_url("http://u:p@h/a"), "/b").userinfo == "u:p"


def test_empty_location_is_refused() -> None:
    with pytest.raises(RedirectError, match="empty Location"):
        resolve_location(BASE, "  ")


def test_build_request() -> None:
    data = build_request(parse_url("http://[::1]:8080/metrics?a=1"), [("Accept", "text/plain")])
    assert data == b"GET /metrics?a=1 HTTP/1.1\r\nHost: [::1]:8080\r\nAccept: text/plain\r\n\r\n"


def test_build_request_given_host_wins_and_userinfo_becomes_basic_auth() -> None:
    data = build_request(parse_url("http://user:p%40ss@h/"), [("host", "virtual")])
    assert data == b"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwQHNz\r\nhost: virtual\r\n\r\n"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("X-Ok", "a\r\nInjected: 1", "holds CR, LF or NUL"),
        ("Bad Name", "v", "invalid header name 'Bad Name'"),
        ("", "v", "invalid header name ''"),
        ("Nämé", "v", "invalid header name"),
    ],
)
def test_headers_cannot_smuggle(name: str, value: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        check_header(name, value)


def test_non_latin1_header_value_is_refused() -> None:
    with pytest.raises(RequestError, match="not Latin-1"):
        build_request(URL("http", "h", 80, "/"), [("X", "snow ☃")])

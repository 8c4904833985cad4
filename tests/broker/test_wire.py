"""The proxy's HTTP/1.1 framing (``broker._wire``): heads parsed and rebuilt, bodies unframed in
pieces however the bytes arrive (RFC 9112), hop-by-hop fields dropped (RFC 9110 §7.6.1)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthgauge.broker._wire import (
    CHUNKED,
    CLOSE,
    LAST_CHUNK,
    LENGTH,
    NONE,
    BodyReader,
    WireError,
    chunk,
    find_head_end,
    parse_request_head,
    parse_response_head,
    render_head,
)


def test_request_head_fields_framing_and_keep_alive() -> None:
    head = parse_request_head(b"POST /img/a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2")
    assert (head.method, head.target, head.version) == (b"POST", b"/img/a?x=1", b"HTTP/1.1")
    assert head.get(b"x-a") == b"1, 2"
    assert (head.framing, head.length, head.keep_alive) == (LENGTH, 5, True)
    old = parse_request_head(b"GET / HTTP/1.0\r\nConnection: keep-alive")
    assert (old.framing, old.keep_alive) == (NONE, True)
    assert not parse_request_head(b"GET / HTTP/1.0").keep_alive
    assert not parse_request_head(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close").keep_alive
    assert parse_request_head(b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked").framing == CHUNKED


@pytest.mark.parametrize(
    ("head", "status", "words"),
    [
        (b"GET /\r\nHost: h", 400, "request line"),
        (b"GET / HTTP/2.0\r\nHost: h", 505, "version"),
        (b"GET / HTTP/1.1", 400, "without Host"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nbad header", 400, "malformed header"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked", 400, "both"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip", 501, "only chunked"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2", 400, "conflicting"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1", 400, "malformed Content-Length"),
    ],
)
def test_bad_requests_say_what_and_which_status(head: bytes, status: int, words: str) -> None:
    with pytest.raises(WireError, match=words) as info:
        parse_request_head(head)
    assert info.value.status == status


def test_head_end_and_its_cap() -> None:
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nbody") == 27
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: h\r\n") == -1
    with pytest.raises(WireError) as info:
        find_head_end(b"GET / HTTP/1.1\r\nX: " + b"a" * 70000)
    assert info.value.status == 431


def test_response_framing() -> None:
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3").framing == LENGTH
    until_close = parse_response_head(b"HTTP/1.1 200 OK")
    assert (until_close.framing, until_close.keep_alive) == (CLOSE, False)
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3", method=b"HEAD").framing == NONE
    assert parse_response_head(b"HTTP/1.1 204 No Content").framing == NONE
    with pytest.raises(WireError) as info:
        parse_response_head(b"SPDY nonsense")
    assert info.value.status == 502


def test_hop_by_hop_fields_are_dropped_and_framing_is_the_senders() -> None:
    head = parse_request_head(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
        b"TE: trailers\r\nUpgrade: h2c\r\nX-Keep: yes\r\nTransfer-Encoding: chunked\r\nHealthgauge-Class: batch"
    )
    drop = frozenset([b"healthgauge-class"])
    out = render_head(b"GET / HTTP/1.1", head, [(b"via", b"1.1 healthgauge")], LENGTH, 7, drop)
    assert out == b"GET / HTTP/1.1\r\nhost: h\r\nx-keep: yes\r\nvia: 1.1 healthgauge\r\ncontent-length: 7\r\n\r\n"
    chunked = render_head(b"HTTP/1.1 200 OK", head, [], CHUNKED, 0)
    assert chunked.endswith(b"transfer-encoding: chunked\r\n\r\n")


def test_length_body_stops_at_its_end() -> None:
    reader = BodyReader(LENGTH, 5)
    assert reader.feed(b"abc") == ([b"abc"], 3)
    pieces, used = reader.feed(b"deGET /next")
    assert (bytes(pieces[0]), used, reader.done) == (b"de", 2, True)


def test_close_body_ends_at_eof_and_a_cut_body_is_an_error() -> None:
    reader = BodyReader(CLOSE)
    reader.feed(b"abc")
    reader.feed_eof()
    assert reader.done
    cut = BodyReader(LENGTH, 10)
    cut.feed(b"abc")
    with pytest.raises(WireError, match="after 3 bytes"):
        cut.feed_eof()


def _encode(pieces: list[bytes]) -> bytes:
    out: list[bytes | memoryview] = []
    for piece in pieces:
        out += chunk(piece)
    return b"".join(bytes(p) for p in out) + LAST_CHUNK


def _read(reader: BodyReader, data: bytes, cuts: list[int]) -> tuple[bytes, bytes]:
    got, rest = [], b""
    points = sorted({0, len(data), *[c % (len(data) + 1) for c in cuts]})
    for a, b in itertools.pairwise(points):
        part = data[a:b]
        pieces, used = reader.feed(part)
        got += [bytes(p) for p in pieces]
        if used < len(part):
            rest += part[used:]
    return b"".join(got), rest


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=8),
    st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_chunked_bodies_unframe_the_same_however_they_are_cut(pieces: list[bytes], cuts: list[int]) -> None:
    data = _encode(pieces) + b"NEXT"
    reader = BodyReader(CHUNKED)
    body, rest = _read(reader, data, cuts)
    assert body == b"".join(pieces)
    assert reader.done
    assert rest == b"NEXT"


def test_chunked_extensions_trailers_and_errors() -> None:
    reader = BodyReader(CHUNKED)
    body, _ = _read(reader, b"3;name=v\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", [])
    assert (body, reader.done) == (b"abc", True)
    for bad, words in ((b"zz\r\n", "chunk-size"), (b"3\r\nabcX\r\n", "not followed by CRLF"), (b"1" * 5000, "cap")):
        with pytest.raises(WireError, match=words):
            BodyReader(CHUNKED).feed(bad)

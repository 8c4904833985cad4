"""The pure HTTP/1.1 response parser: whole, in pieces, with trailing garbage, and fuzzed."""

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.http._http11 import MAX_HEAD, ResponseParser, decode_body
from healthgauge.http.fetch import FetchError, ProtocolError, TooLargeError


def parse(data: bytes, *, max_body: int = 1 << 20, eof: bool = True) -> ResponseParser:
    parser = ResponseParser(max_body=max_body)
    if not parser.feed(data) and eof:
        parser.feed_eof()
    return parser


def test_content_length_response() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\napp_up 1\n", eof=False)
    assert p.complete
    assert (p.status, p.reason) == (200, "OK")
    assert p.headers == [("content-type", "text/plain"), ("content-length", "9")]
    assert p.body() == b"app_up 1\n"


@pytest.mark.parametrize(
    "head", [b"Content-Length: 12\r\n", b"Transfer-Encoding: chunked\r\n", b""], ids=["length", "chunked", "close"]
)
def test_the_body_is_received_into_one_buffer_in_pieces(head: bytes) -> None:
    body = b"app_up 1\nx 2\n"[:12]
    framed = b"5\r\napp_u\r\n7\r\np 1\nx 2\r\n0\r\n\r\n" if b"chunked" in head else body
    p = ResponseParser()
    for i in range(0, len(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + framed), 3):  # three bytes a read
        p.feed((b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + framed)[i : i + 3])
    if not p.complete:
        p.feed_eof()
    assert p.body() == body
    assert type(p.body()) is bytearray
    assert p.body() is p.body()
    assert decode_body(p.body(), None) is p.body()


def test_bytes_after_a_complete_response_are_ignored() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE", eof=False)
    assert p.complete
    assert p.body() == b"ok"
    assert p.feed(b"more garbage")
    assert p.body() == b"ok"


def test_read_until_close_when_neither_length_nor_chunked() -> None:
    p = ResponseParser()
    assert not p.feed(b"HTTP/1.0 200 OK\r\n\r\nline 1\n")
    assert not p.feed(b"line 2\n")
    p.feed_eof()
    assert p.complete
    assert p.body() == b"line 1\nline 2\n"


def test_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;name=value\r\napp_\r\n5 \r\nup 1\n\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    p = parse(data, eof=False)
    assert p.complete
    assert p.body() == b"app_up 1\n"


def test_transfer_encoding_overrides_content_length() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    assert parse(data, eof=False).body() == b"ok"


def test_bare_lf_line_endings_are_accepted() -> None:
    p = parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", eof=False)
    assert (p.status, p.body()) == (200, b"ok")
    p = parse(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n", eof=False)
    assert p.body() == b"ok"


def test_interim_1xx_responses_are_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    p = parse(interim + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert (p.status, p.body()) == (200, b"x")


def test_no_body_for_204_and_304() -> None:
    assert parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", eof=False).complete
    assert parse(b"HTTP/1.1 304 Not Modified\r\n\r\n", eof=False).body() == b""


@pytest.mark.parametrize(("status", "complete"), [(200, False), (302, True), (404, True)])
def test_only_2xx_bodies(status: int, complete: bool) -> None:
    parser = ResponseParser(max_body=10, only_2xx_bodies=True)
    assert parser.feed(b"HTTP/1.1 %d X\r\nContent-Length: 100\r\n\r\n" % status) is complete


def test_status_line_without_reason() -> None:
    p = parse(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", eof=False)
    assert (p.status, p.reason) == (404, "")


def test_obs_fold_is_unfolded_and_repeated_headers_join() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nX-B: 1\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n", eof=False)
    assert p.header("x-a") == "one two"
    assert p.header("x-b") == "1, 2"
    assert p.header("x-none") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP response: status line 'SSH-2.0-OpenSSH_9.2'"),
        (b"HTTP/2 200\r\n\r\n", "unsupported HTTP version in status line 'HTTP/2 200'"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status code in status line 'HTTP/1.1 2000 OK'"),
        (b"HTTP/1.1 099 Low\r\n\r\n", "malformed status code"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed header line 'Bad Name: x'"),
        (b"HTTP/1.1 200 OK\r\n folded\r\n\r\n", "header continuation line ' folded' before any header"),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "holds CR or NUL"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "conflicting Content-Length values '1, 2'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length '-1'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101 Switching Protocols"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk-size line 'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "malformed chunk-size line '-1'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", "malformed chunk-size line '1_0'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXY", "chunk data not followed by CRLF: 'XY'"),
    ],
)
def test_malformed_responses_name_the_offending_text(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the server closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "the connection closed inside the response head after 27 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "the connection closed after 3 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "inside the chunked body after 3"),
    ],
)
def test_early_close_says_what_was_cut(data: bytes, message: str) -> None:
    parser = ResponseParser()
    assert not parser.feed(data)
    with pytest.raises(ProtocolError, match=message):
        parser.feed_eof()


def test_body_cap_by_content_length_is_raised_at_the_first_body_byte() -> None:
    parser = ResponseParser(max_body=100)
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n")
    assert parser.head_done
    with pytest.raises(TooLargeError, match="body of 101 bytes \\(Content-Length\\) over the 100-byte cap") as info:
        parser.feed(b"x")
    assert info.value.limit == 100


def test_body_cap_when_reading_until_close() -> None:
    parser = ResponseParser(max_body=100)
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100)
    with pytest.raises(TooLargeError, match="body over the 100-byte cap"):
        parser.feed(b"x")


def test_body_cap_for_chunked_is_checked_from_the_chunk_size() -> None:
    with pytest.raises(TooLargeError, match="body over the 100-byte cap"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + b"x" * 80 + b"\r\n50\r\n", max_body=100)


def test_head_cap() -> None:
    parser = ResponseParser()
    for _ in range(MAX_HEAD // 1000):
        parser.feed(b"X-Filler: " + b"y" * 988 + b"\r\n")
    with pytest.raises(TooLargeError, match=f"response head over the {MAX_HEAD}-byte cap"):
        parser.feed(b"X-Filler: " + b"y" * 988 + b"\r\n")


def test_header_count_cap() -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n"
    with pytest.raises(TooLargeError, match="101 headers, over the cap of 100"):
        parse(data)


def test_chunk_line_cap() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
    with pytest.raises(TooLargeError, match="chunk-size line over the 4096-byte cap"):
        parser.feed(b"e" * 5000)


def test_gzip_round_trip_and_concatenated_members() -> None:
    body = b"app_up 1\n" * 100
    assert decode_body(gzip.compress(body), "gzip") == body
    assert decode_body(gzip.compress(b"a\n") + gzip.compress(b"b\n"), "x-gzip") == b"a\nb\n"
    assert decode_body(gzip.compress(b"a\n") + bytes(16), "GZIP") == b"a\n"
    assert decode_body(body, None) == body
    assert decode_body(body, "identity") == body


def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(bytes(10_000_000), 9)
    assert len(bomb) < 20_000
    with pytest.raises(TooLargeError, match="gzip body inflates past the 1000000-byte cap"):
        decode_body(bomb, "gzip", 1_000_000)
    assert len(decode_body(bomb, "gzip", 10_000_000)) == 10_000_000


@pytest.mark.parametrize(
    ("body", "coding", "message"),
    [
        (b"not gzip", "gzip", "corrupt gzip body"),
        (gzip.compress(b"x" * 1000)[:-12], "gzip", "truncated gzip body"),
        (b"x", "br", "unsupported Content-Encoding 'br' \\(asked for gzip\\)"),
    ],
)
def test_bad_content_encoding(body: bytes, coding: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_body(body, coding)


RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nX: y\r\n\r\nhello world\n",
]


@given(st.sampled_from(RESPONSES), st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_any_split_gives_the_same_response(data: bytes, cuts: list[int]) -> None:
    whole = parse(data)
    parser = ResponseParser()
    points = sorted({min(c, len(data)) for c in cuts})
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        parser.feed(data[start:end])
    if not parser.complete:
        parser.feed_eof()
    assert (parser.status, parser.headers, parser.body()) == (whole.status, whole.headers, whole.body())
    assert whole.body() == b"hello world\n"


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_fuzz_only_our_errors_escape(data: bytes, step: int) -> None:
    parser = ResponseParser(max_body=100, max_head=200)
    try:
        for i in range(0, len(data), step):
            if parser.feed(data[i : i + step]):
                break
        else:
            parser.feed_eof()
    except FetchError:
        pass


@given(st.binary(max_size=200).map(lambda tail: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + tail))
def test_fuzz_chunked_bodies(data: bytes) -> None:
    try:
        parse(data, max_body=1000)
    except FetchError:
        pass


# keep_alive: whether the connection may carry the next request (the agent's scrape client).
@pytest.mark.parametrize(
    ("data", "keep"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive, CLOSE\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", False),  # out of step
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nEXTRA", False),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 5\r\n\r\n", False),  # body left unread
        (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", True),
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", True),  # bare LF: the general path
    ],
)
def test_keep_alive_decisions(data: bytes, keep: bool) -> None:
    whole = ResponseParser(only_2xx_bodies=True)
    assert whole.feed(data)
    assert whole.keep_alive is keep
    pieces = ResponseParser(only_2xx_bodies=True)  # the same, a byte at a time
    for i in range(len(data)):
        if pieces.feed(data[i : i + 1]):
            break
    assert pieces.feed(data[i + 1 :]) if data[i + 1 :] else True
    assert pieces.keep_alive is keep


def test_read_until_close_and_incomplete_responses_are_never_kept() -> None:
    p = ResponseParser()
    assert not p.feed(b"HTTP/1.1 200 OK\r\n\r\nbody")
    assert not p.keep_alive
    p.feed_eof()
    assert not p.keep_alive
    assert not ResponseParser().keep_alive

"""Bodies built to cost the reader (issue #13): decoding stays linear in the body's size, in
bounded steps, and drips and member floods are refused early with a reason."""

from __future__ import annotations

import gzip
import time

import pytest

from healthgauge.http import _http11
from healthgauge.http._http11 import (
    MAX_GZIP_MEMBERS,
    STEP_OUTPUT,
    GunzipStream,
    ResponseParser,
    decode_body,
    decode_steps,
)
from healthgauge.http.fetch import ProtocolError, TooLargeError

EMPTY = gzip.compress(b"")


def test_many_gzip_members_are_refused_past_the_cap() -> None:
    assert decode_body(EMPTY * MAX_GZIP_MEMBERS, "gzip") == b""
    with pytest.raises(ProtocolError, match=f"more than {MAX_GZIP_MEMBERS} members"):
        decode_body(EMPTY * (16 * 1024 * 1024 // len(EMPTY)), "gzip")  # at once: the 16 MiB flood


def _cpu(body: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        decode_body(body, "gzip")
        best = min(best, time.process_time() - started)
    return best


def test_decoding_many_members_is_linear_in_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the member cap, 4x the members costs ~4x (it was ~16x: each member copied the rest)."""
    monkeypatch.setattr(_http11, "MAX_GZIP_MEMBERS", 10**9)
    small, large = EMPTY * 10_000, EMPTY * 40_000
    ratio = _cpu(large) / _cpu(small)
    assert ratio < 8, f"4x the members cost {ratio:.1f}x"


def test_decoding_runs_in_bounded_steps() -> None:
    page = b"".join(b'app_up{i="%d"} 1\n' % i for i in range(400_000))
    steps = decode_steps(gzip.compress(page), "gzip", 64 * 1024 * 1024)
    count = 0
    decoded = b""
    try:
        while True:
            next(steps)
            count += 1
    except StopIteration as done:
        decoded = done.value
    assert decoded == page
    assert count >= len(page) // STEP_OUTPUT - 1


def test_one_byte_chunks_are_refused_as_a_drip() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ProtocolError, match="chunks under 64 bytes on average"):
        parser.feed(b"1\r\nx\r\n" * 2000)


def test_small_chunks_of_a_streaming_server_are_read() -> None:
    parser = ResponseParser()
    line = b'app_up{i="1"} 1\n' * 5
    chunk = b"%x\r\n%s\r\n" % (len(line), line)
    assert parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 5000 + b"0\r\n\r\n")
    assert parser.body() == line * 5000


def test_release_drops_the_buffers() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100_000)
    parser.release()
    assert parser.body() == b""


def _stream(pieces: list[bytes], limit: int = 1 << 24) -> bytes:
    stream = GunzipStream(limit)
    for piece in pieces:
        stream.feed(piece)
        while stream.step():
            pass
    return stream.finish()


@pytest.mark.parametrize("size", [1, 7, 256, 4096, 300_000])
def test_a_gzip_body_decoded_as_it_arrives_equals_the_whole_body_decoded(size: int) -> None:
    page = b"".join(b'app_up{i="%d"} 1\n' % i for i in range(20_000))
    body = gzip.compress(page[:1000]) + gzip.compress(page) + b"\0" * 10
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    assert _stream(pieces) == decode_body(body, "gzip") == page[:1000] + page


def test_a_member_flood_is_refused_while_it_arrives() -> None:
    """The 16 MiB flood of empty members: refused within the first ~20 KB fed, not at its end."""
    flood = EMPTY * (16 * 1024 * 1024 // len(EMPTY))
    stream = GunzipStream()
    fed = 0

    def feed_all() -> None:
        nonlocal fed
        for start in range(0, len(flood), 4096):
            stream.feed(flood[start : start + 4096])
            fed += 4096
            while stream.step():
                pass

    with pytest.raises(ProtocolError, match=f"more than {MAX_GZIP_MEMBERS} members"):
        feed_all()
    assert fed <= (MAX_GZIP_MEMBERS + 1) * len(EMPTY) + 4096


def test_a_bomb_is_refused_at_the_decoded_cap_in_bounded_steps() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # ~64 KB in
    stream = GunzipStream(1024 * 1024)
    stream.feed(bomb[:16384])
    steps = 0

    def decode_all() -> None:
        nonlocal steps
        while stream.step():
            steps += 1

    with pytest.raises(TooLargeError, match="inflates past the 1048576-byte cap"):
        decode_all()
    assert stream.decoded <= 1024 * 1024 + STEP_OUTPUT


def test_a_cut_or_corrupt_stream_says_so() -> None:
    body = gzip.compress(b"app_up 1\n" * 100)
    with pytest.raises(ProtocolError, match="truncated gzip body"):
        _stream([body[:-5]])
    with pytest.raises(ProtocolError, match="corrupt gzip body"):
        _stream([body[:10] + b"\xff" * 40])
    with pytest.raises(ProtocolError, match="after its trailing zero padding"):
        _stream([body, b"\0\0", body])

"""Bodies built to cost the reader (issue #13): decoding stays linear in the body's size, in
bounded steps, and drips and member floods are refused early with a reason."""

from __future__ import annotations

import gzip
import time

import pytest

from healthgauge.http import _http11
from healthgauge.http._http11 import MAX_GZIP_MEMBERS, STEP_OUTPUT, ResponseParser, decode_body, decode_steps
from healthgauge.http.fetch import ProtocolError

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

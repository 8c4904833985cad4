"""gzip bodies decoded in time linear in their size, a bounded step at a time (issue #13).

A body of many empty gzip members used to take time quadratic in its size: after each member,
zlib's ``unused_data`` copied the whole rest of the body (1 MiB took 1.3 s, 2 MiB 5.1 s, on the
event loop). Here the decompressor is fed windows that start small at each member and double
while it goes on, so the copy after a member's end is at most about the member's own size; the
members are capped; and the work comes in steps the caller drives. Loaded only for a gzip body
(``healthgauge check`` imports it only then: DEVELOPERS.md, "The check path").
"""

from __future__ import annotations

from healthgauge.http._http11 import ProtocolError, TooLargeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator

# Concatenated gzip members a body may have (RFC 1952 §2.2 allows any number). A metrics page is
# one member (Go's and Python's gzip writers make one); a thousand empty members are 20 KB of input
# that cost a decompressor each, so past this count the body is refused rather than decoded.
MAX_GZIP_MEMBERS = 1000
# One decoding step's work: input bytes fed and output bytes made before the caller gets control
# back (the agent runs other work between steps; a 1 MiB step is ~2-3 ms of zlib here).
STEP_INPUT = 256 * 1024
STEP_OUTPUT = 1024 * 1024
# What the decompressor is fed at a time at the start of a member, doubling while the member goes
# on: zlib copies the input left over after a member's end, so a small first window keeps the cost
# of many tiny members linear (the whole rest of the body used to be copied after each one).
_FIRST_WINDOW = 256
_MAX_WINDOW = 64 * 1024


def gunzip_steps(body: bytes | bytearray, limit: int) -> Generator[None, None, bytes]:
    """The decompressed body (returned), yielding after each step; raise ProtocolError for a
    corrupt, truncated or many-membered body and TooLargeError past ``limit`` bytes."""
    import zlib

    out: list[bytes] = []
    total = pos = members = step_in = step_out = 0
    size = len(body)
    inflater = None
    window = _FIRST_WINDOW
    with memoryview(body) as view:
        while pos < size:
            if inflater is None:
                if body[pos] == 0 and body.count(0, pos) == size - pos:
                    break  # trailing zero padding
                members += 1
                if members > MAX_GZIP_MEMBERS:
                    raise ProtocolError(f"gzip body of more than {MAX_GZIP_MEMBERS} members (a page is one)")
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                window = _FIRST_WINDOW
            piece = view[pos : pos + window]
            try:
                chunk = inflater.decompress(piece, min(limit - total + 1, STEP_OUTPUT))
            except zlib.error as exc:
                raise ProtocolError(f"corrupt gzip body: {exc}") from None
            left = len(inflater.unconsumed_tail) + len(inflater.unused_data)
            pos += len(piece) - left
            total += len(chunk)
            if total > limit:
                raise TooLargeError(f"gzip body inflates past the {limit}-byte cap", limit=limit)
            out.append(chunk)
            if inflater.eof:
                inflater = None
            elif not left:
                window = min(window * 2, _MAX_WINDOW)
            step_in += len(piece) - left
            step_out += len(chunk)
            if step_in >= STEP_INPUT or step_out >= STEP_OUTPUT:
                step_in = step_out = 0
                yield
    if inflater is not None:
        raise ProtocolError(f"truncated gzip body: it ends after {total} decompressed bytes")
    return b"".join(out)

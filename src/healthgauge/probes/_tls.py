"""A peer certificate's expiry, for ``probe_ssl_earliest_cert_expiry``. Pure.

With verification on, :meth:`ssl.SSLSocket.getpeercert` decodes ``notAfter``; with it off
(``insecure = true``) Python returns only the DER bytes, so this reads the one field it needs from
them: ``Certificate -> tbsCertificate -> validity -> notAfter`` (RFC 5280 §4.1), a UTCTime
(``YYMMDDHHMMSSZ``, years 1950-2049) or a GeneralizedTime (``YYYYMMDDHHMMSSZ``).
Python 3.11 exposes only the leaf certificate of a connection, so the expiry is the leaf's.
"""

from __future__ import annotations

import calendar
import ssl
from typing import Any


class CertError(ValueError):
    """The DER bytes are not a certificate this reader understands."""


def expiry(ssl_object: Any) -> float | None:
    """``notAfter`` of the peer's certificate in Unix seconds, or ``None`` without one."""
    if ssl_object is None:
        return None
    decoded = ssl_object.getpeercert()
    if decoded and "notAfter" in decoded:
        return float(ssl.cert_time_to_seconds(decoded["notAfter"]))
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return not_after(der)
    except CertError:
        return None


def not_after(der: bytes) -> float:
    """``notAfter`` of a DER certificate in Unix seconds."""
    cert, _ = _element(der, 0, 0x30)
    tbs, _ = _element(der, cert, 0x30)
    pos = tbs
    if der[pos : pos + 1] == b"\xa0":  # [0] EXPLICIT version
        pos = _skip(der, pos)
    for _ in range(3):  # serialNumber, signature, issuer
        pos = _skip(der, pos)
    validity, _ = _element(der, pos, 0x30)
    after = _skip(der, validity)  # past notBefore
    tag = der[after]
    start, end = _element(der, after, tag)
    return _time(tag, der[start:end].decode("ascii", "replace"))


def _header(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content length) of the element at ``pos``."""
    if pos + 2 > len(der):
        raise CertError("truncated")
    tag, first = der[pos], der[pos + 1]
    if first < 0x80:
        return tag, pos + 2, first
    count = first & 0x7F
    if not 0 < count <= 4 or pos + 2 + count > len(der):
        raise CertError("bad length")
    return tag, pos + 2 + count, int.from_bytes(der[pos + 2 : pos + 2 + count], "big")


def _element(der: bytes, pos: int, tag: int) -> tuple[int, int]:
    found, start, length = _header(der, pos)
    if found != tag or start + length > len(der):
        raise CertError(f"expected tag {tag:#x} at {pos}, got {found:#x}")
    return start, start + length


def _skip(der: bytes, pos: int) -> int:
    _, start, length = _header(der, pos)
    return start + length


def _time(tag: int, text: str) -> float:
    if not text.endswith("Z") or not text[:-1].isdigit():
        raise CertError(f"unreadable time {text!r}")
    if tag == 0x17 and len(text) == 13:
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18 or len(text) != 15:
        raise CertError(f"unreadable time {text!r}")
    fields = [int(text[i : i + n]) for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2))]
    return float(calendar.timegm((*fields, 0, 0, 0)))

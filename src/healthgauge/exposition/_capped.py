"""A page parsed under the agent's sample cap, a refusal in words: what the agent's engine runs in
its own process, and in a child process for a big page (``healthgauge.agent._children``), which
then imports only this package (~13 MiB, against ~41 MiB for the agent's modules).
"""

from __future__ import annotations

import time

from healthgauge.exposition._errors import LimitError
from healthgauge.exposition._limits import Limits
from healthgauge.exposition._parse import parse_page
from healthgauge.exposition._sample import Sample

TYPE_CHECKING = False
if TYPE_CHECKING:  # this package is on the check path: no typing or collections at run time
    from collections.abc import Collection
    from typing import Any


class PageRefused(Exception):
    """The page is over ``sample_limit`` or not valid exposition; ``str()`` says which and where."""


_LIMITS: dict[int, Limits] = {}


def _limits(max_series: int) -> Limits:
    """One Limits per cap (a few distinct sample_limit values in a configuration)."""
    limits = _LIMITS.get(max_series)
    if limits is None:
        if len(_LIMITS) >= 64:
            _LIMITS.clear()
        limits = _LIMITS[max_series] = Limits(max_series=max_series)
    return limits


def parse_capped(
    data: bytes | bytearray,
    content_type: str | None,
    names: Collection[str] | None,
    limit: int,
    dropped: list[Any] | None = None,
) -> list[Sample]:
    """Strict, as :func:`healthgauge.exposition.parse`, with ``limit`` as the parser's series cap:
    the parse stops there instead of building every sample first. Raise :class:`PageRefused`."""
    samples, errors = parse_page(data, content_type, names, _limits(limit), lenient=True, dropped=dropped)
    if not errors:
        return samples
    first = errors[0]
    if isinstance(first, LimitError) and first.name == "max_series":
        raise PageRefused(f"sample_limit: more than {limit} samples of the metrics the rules read")
    raise PageRefused(f"invalid exposition: {first}")


def parse_in_child(
    data: bytes | bytearray, content_type: str | None, names: Collection[str] | None, limit: int
) -> tuple[list[Sample] | None, str, int, float]:
    """:func:`parse_capped` in a child process: (samples or ``None``, the refusal's words, samples
    dropped as repeated, CPU seconds spent), a refusal returned rather than raised."""
    cpu = time.thread_time()
    dropped: list[Any] = []
    try:
        samples = parse_capped(data, content_type, names, limit, dropped)
    except PageRefused as exc:
        return None, str(exc), 0, time.thread_time() - cpu
    return samples, "", len(dropped), time.thread_time() - cpu

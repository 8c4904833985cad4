"""``time()``: in most freshness conditions (``time() - last_success_ts < 600``), so it has a
module of its own that loads nothing else (``_functions`` names the modules of the others)."""

from __future__ import annotations

from healthgauge.promql._nodes import Call, ScalarNode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History


class Time(Call, ScalarNode):
    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        return t / 1000


FUNCTIONS: dict[str, type[Call]] = {"time": Time}

"""The app-side HAProxy agent-check reply: load and limit in, one line out (spec §10.1; consumers §3).

Pure: the time is an argument. :class:`AgentLine` holds the only state the reply needs (the admin
state, the last reported weight for hysteresis, the start time for the warm-up ramp).

Every reply is a *full state* — health, admin state, weight and (optionally) maxconn — ending in
``\\n``: HAProxy keeps any word a reply leaves out, and applies nothing from a line without a
newline (consumers §3.5 pitfalls 3 and 5). Weights use ``N%``, not ``weight:N``, which HAProxy 2.6
rejects (pitfall 6).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = ["AdminState", "AgentLine", "AgentReply"]


class AdminState(enum.Enum):
    """HAProxy's administrative states as the agent sets them."""

    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"


# A description longer than this is cut: HAProxy shows it in one stats cell.
MAX_REASON = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReply:
    """One agent-check answer; :meth:`line` is its wire form."""

    up: bool
    admin: AdminState
    weight: int
    maxconn: int | None
    reason: str = ""

    def line(self) -> bytes:
        words = ["up" if self.up else "down", self.admin.value, f"{self.weight}%"]
        if self.maxconn is not None:
            words.append(f"maxconn:{self.maxconn}")
        if self.reason:
            # '#' must start its own word and the description must come last (pitfalls 1 and 2).
            words.append("#" + self.reason)
        return (" ".join(words) + "\n").encode("ascii", "replace")


def _clean_reason(reason: str) -> str:
    text = "".join(ch if " " <= ch < "\x7f" else " " for ch in reason).strip()
    return text[:MAX_REASON]


class AgentLine:
    """Turns the service's load (0-100) and in-flight limit into the reply HAProxy applies.

    * weight ``W = clamp(100 − load, weight_floor, 100)``: overload lowers the weight but never to
      0 %, which HAProxy shows as DRAIN (spec §10.1: overload is not drain, nor down);
    * hysteresis: the reported weight moves only when the new value differs by more than
      ``hysteresis`` points, or returns to 100 (so a recovered server gets its full share back);
    * warm-up: for ``warmup`` seconds after ``start`` the weight ramps linearly from the floor to
      the live value, protecting cold caches;
    * :meth:`drain` on SIGTERM (only this agent can undo it: keep answering until exit),
      :meth:`maint` and :meth:`down` by explicit command only; :meth:`ready` / :meth:`up` undo them.
    """

    __slots__ = (
        "_admin",
        "_reason",
        "_reported",
        "_up",
        "hysteresis",
        "report_maxconn",
        "start",
        "warmup",
        "weight_floor",
    )

    def __init__(
        self,
        *,
        start: float,
        warmup: float = 10.0,
        weight_floor: int = 10,
        hysteresis: int = 5,
        report_maxconn: bool = True,
    ) -> None:
        if not 1 <= weight_floor <= 100:
            raise ValueError(f"AgentLine: weight_floor must be 1-100 %, got {weight_floor}")
        if warmup < 0 or hysteresis < 0:
            raise ValueError(f"AgentLine: warmup and hysteresis must be ≥ 0, got {warmup}, {hysteresis}")
        self.start, self.warmup, self.weight_floor = start, warmup, weight_floor
        self.hysteresis, self.report_maxconn = hysteresis, report_maxconn
        self._admin = AdminState.READY
        self._up = True
        self._reason = ""
        self._reported: int | None = None

    @property
    def admin(self) -> AdminState:
        return self._admin

    @property
    def reported(self) -> int | None:
        """The last weight reported before the warm-up ramp (``None`` before the first reply)."""
        return self._reported

    def drain(self) -> None:
        self._admin = AdminState.DRAIN

    def maint(self) -> None:
        self._admin = AdminState.MAINT

    def ready(self) -> None:
        self._admin = AdminState.READY

    def down(self, reason: str) -> None:
        """A hard failure (a fatal dependency, corrupted state) — never overload."""
        self._up = False
        self._reason = _clean_reason(reason) or "failed"

    def up(self) -> None:
        self._up = True
        self._reason = ""

    def weight(self, now: float, load: float) -> int:
        """The weight % to report for ``load`` at ``now``, after hysteresis and warm-up."""
        if not math.isfinite(load):
            load = 100.0  # cannot tell: fail closed to the floor
        raw = min(100, max(self.weight_floor, round(100.0 - load)))
        last = self._reported
        if last is None or abs(raw - last) > self.hysteresis or (raw == 100 and last != 100):
            self._reported = last = raw
        elapsed = now - self.start
        if self.warmup > 0 and elapsed < self.warmup:
            ramp = self.weight_floor + (last - self.weight_floor) * max(0.0, elapsed) / self.warmup
            return min(last, math.floor(ramp))
        return last

    def reply(self, now: float, *, load: float, limit: int | None) -> AgentReply:
        """The full state for ``now``; ``limit`` is the in-flight limit (``None``: omit maxconn)."""
        maxconn = max(1, int(limit)) if (limit is not None and self.report_maxconn) else None
        return AgentReply(
            up=self._up,
            admin=self._admin,
            weight=self.weight(now, load),
            maxconn=maxconn,
            reason=self._reason,
        )

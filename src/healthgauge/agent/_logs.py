"""What the agent tells its operator: log set-up, and the lines a running agent writes.

Loggers are the standard library's, named ``healthgauge.<area>`` (``healthgauge.agent``,
``healthgauge.agent.state``, ``healthgauge.agent.scrape``, ...), so an embedding program routes
them as it routes its own. ``healthgauge agent`` writes them to stderr, as text or, with
``--log-format json``, one JSON object a line for log pipelines (the fields of a line are keys of
its object: ``target``, ``from``, ``to``, ``reason``, ...).

Levels mean something:

=========  ===============================================================================
level      what
=========  ===============================================================================
error      the agent cannot do part of its job: a state file it cannot write, a bad reload
warning    a target got worse (unhealthy, dead), a target's scrapes fail, a consumer asked
           for an unknown target
info       start-up (listeners, targets), a target got better or was drained, reloads, drain
           progress, stop (the default level)
debug      every scrape
=========  ===============================================================================

The pure parts (:func:`change_line`, :class:`FailureLog`) take time as an argument.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from healthgauge.health._state import Level, TargetState

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# One line per target per this many seconds while its scrapes keep failing: a thousand targets
# behind a dead network must not write a thousand lines a second. The first failure and the
# recovery are the lines an operator needs; the rest are counted into the next line.
FAILURE_REPEAT = 60.0

# Levels a target can fall to that the operator must hear about (warning); the others are info.
_WORSE = {Level.UNHEALTHY, Level.DEAD}
_RANK = {level: rank for rank, level in enumerate(Level)}
# LogRecord's own attributes: anything else on a record came through ``extra=`` and is a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``,
    then every ``extra=`` field; ``exception`` carries a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        doc: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_"))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Send every log line to ``stream`` (stderr) at ``level`` and above, as ``fmt``; returns the
    handler (replacing the one an earlier call installed; other handlers stay)."""
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use {' or '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "healthgauge", False)]:
        root.removeHandler(old)
    handler.healthgauge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


@dataclass(frozen=True, slots=True)
class Line:
    """A log line before it is written: level, message and its fields."""

    level: int
    message: str
    fields: dict[str, object]


def change_line(old: TargetState, new: TargetState) -> Line | None:
    """The line for a target whose level changed (``None`` when it did not, or when the agent is
    shutting down: the drain has its own lines, not one per target)."""
    before, after = old.level, new.level
    if before is after or new.shutting_down:
        return None
    worse = after in _WORSE and _RANK[after] > _RANK[before]
    why = new.reason or "-"
    if after is Level.DRAINING:
        why = f"admin {new.admin.value}"
    fields: dict[str, object] = {"target": new.name, "from": before.value, "to": after.value, "reason": why}
    message = f"{new.name}: {before.value} -> {after.value} ({why})"
    return Line(logging.WARNING if worse else logging.INFO, message, fields)


class StateLog:
    """A hub subscriber that writes :func:`change_line` for every change of level."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("healthgauge.agent.state")

    def __call__(self, old: TargetState, new: TargetState) -> None:
        line = change_line(old, new)
        if line is not None:
            self.log.log(line.level, "%s", line.message, extra=line.fields)


class FailureLog:
    """Rate-limits one target's scrape-failure lines: the first failure at once, then at most one
    line every ``repeat`` seconds (the latest error, and how many failures were not logged), and
    one line when scrapes succeed again. Pure: ``now`` is an argument."""

    def __init__(self, target: str, repeat: float = FAILURE_REPEAT) -> None:
        self.target = target
        self.repeat = repeat
        self.failures = 0  # consecutive failures
        self.since = 0.0  # when the first of them happened
        self.quiet = 0  # failures not logged since the last line
        self._last_at: float | None = None

    def failed(self, error: str, now: float) -> Line | None:
        if self.failures == 0:
            self.since = now
        self.failures += 1
        if self._last_at is not None and now - self._last_at < self.repeat:
            self.quiet += 1
            return None
        more = f" ({self.quiet} more since the last line)" if self.quiet else ""
        count = f"{self.failures} in a row" if self.failures > 1 else "first failure"
        line = Line(
            logging.WARNING,
            f"{self.target}: scrape failed: {error} [{count}{more}]",
            {"target": self.target, "error": error, "failures": self.failures},
        )
        self._last_at, self.quiet = now, 0
        return line

    def succeeded(self, now: float) -> Line | None:
        if self.failures == 0:
            return None
        line = Line(
            logging.INFO,
            f"{self.target}: scraping again after {self.failures} failed scrape(s) over {now - self.since:.1f}s",
            {"target": self.target, "failures": self.failures},
        )
        self.failures, self.quiet, self._last_at = 0, 0, None
        return line


def write(logger: logging.Logger, line: Line | None) -> None:
    if line is not None:
        logger.log(line.level, "%s", line.message, extra=line.fields)

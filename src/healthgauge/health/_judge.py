"""Judgement: many condition outcomes -> one status, with the reason a person needs.

Shared by `healthgauge check` (one scrape, exit codes) and the agent (per target, before
hysteresis), so it sits on the check path: no typing, dataclasses or enum imports here
(DEVELOPERS.md, "The check path").

Status values double as the Nagios / Consul script-check exit codes: 0 pass, 1 warn, 2 fail
(the one vocabulary, with UNKNOWN and the commands' exit codes: ``health._status``).
"""

from __future__ import annotations

from healthgauge.health._status import FAIL, PASS, STATUS_NAMES, WARN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    # One evaluated condition: the evaluator's value type (judgement reads ``holds`` and ``summary``).
    from healthgauge.promql import Outcome


__all__ = ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"]


class Judgement:
    """The status of a set of conditions and why.

    ``failed`` and ``warned`` keep the (condition text, outcome) pairs behind the status, so each
    consumer can render them its own way (a probe's one line, health+json's checks, a reason word).
    """

    __slots__ = ("failed", "reason", "status", "warned")

    def __init__(
        self,
        status: int,
        reason: str,
        failed: tuple[tuple[str, Outcome], ...] = (),
        warned: tuple[tuple[str, Outcome], ...] = (),
    ) -> None:
        self.status = status
        self.reason = reason
        self.failed = failed
        self.warned = warned

    @property
    def name(self) -> str:
        return STATUS_NAMES[self.status]

    def __repr__(self) -> str:
        return f"Judgement({self.name}, {self.reason!r})"


def describe(text: str, outcome: Outcome) -> str:
    """One condition as a person reads it: ``time() - app_last_iteration_ts < 60: got 312.4``."""
    return f"{text}: {outcome.summary}" if outcome.summary else text


def judge(required: Sequence[tuple[str, Outcome]], warn: Sequence[tuple[str, Outcome]] = ()) -> Judgement:
    """Fail if any required condition does not hold; else warn if any warn condition holds; else pass.

    A condition that could not be evaluated does not hold (its outcome says why): a check that
    cannot tell never says healthy.
    """
    failed = tuple(pair for pair in required if not pair[1].holds)
    if failed:
        return Judgement(FAIL, _join(failed), failed=failed)
    warned = tuple(pair for pair in warn if pair[1].holds)
    if warned:
        return Judgement(WARN, _join(warned), warned=warned)
    count = len(required)
    return Judgement(PASS, "1 condition holds" if count == 1 else f"{count} conditions hold")


def _join(pairs: Iterable[tuple[str, Outcome]]) -> str:
    return "; ".join(describe(text, outcome) for text, outcome in pairs)

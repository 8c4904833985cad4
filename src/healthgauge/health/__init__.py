"""Health judgement and its words: verdicts, hysteresis, admin state and the renderers for every
consumer. Pure: time is an argument, bytes are returned, servers elsewhere move them."""

from healthgauge.health._judge import FAIL, PASS, WARN, Judgement, describe, judge

__all__ = ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"]

"""The evaluator's exceptions, split by who is at fault.

ValueError
 └── PromQLError          the expression text: syntax, or a construct we refuse (compile time)
      └── EvaluationError the data met the expression: many-to-many matching, duplicate series
                          (evaluation time; Prometheus answers these with HTTP 422)
"""

from __future__ import annotations


class PromQLError(ValueError):
    """An expression that cannot be compiled: the message quotes it and says what and where."""


class EvaluationError(PromQLError):
    """An expression that compiled but failed on this data, as Prometheus's would at query time."""

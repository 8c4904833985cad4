"""PromQL's functions and aggregations by name: which module implements each.

A health condition calls one or two functions, most often ``time()``; ``healthgauge check`` pays for
every module it loads (DEVELOPERS.md, "The check path"). So each family of functions lives in its
own module, named in ``FUNCTION_MODULES``, and is imported only when an expression calls one of its
functions: the compiler asks :func:`node_class` for the class (this table is the compiler's), and a
compiled tree read back from ``healthgauge._exprcache`` imports the modules its nodes come from.
``time()`` loads ``_fn_time``, not the range, histogram, label or math functions. What every
function node shares, ``Call``, is in ``_nodes``.

Instant-vector functions drop ``__name__`` except ``label_replace``, ``label_join``, ``sort`` and
``sort_desc``; range-vector functions drop it except ``last_over_time`` (which "acts like offset").
Semantics: Prometheus 2.42's ``promql/functions.go`` and ``promql/quantile.go``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._nodes import Call

# name -> the module (in this package) that implements it.
FUNCTION_MODULES = {
    "time": "_fn_time",
    **dict.fromkeys(
        (
            "abs",
            "ceil",
            "floor",
            "exp",
            "sqrt",
            "ln",
            "log2",
            "log10",
            "sgn",
            "round",
            "clamp",
            "clamp_min",
            "clamp_max",
        ),
        "_fn_math",
    ),
    **dict.fromkeys(
        ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"),
        "_fn_trig",
    ),
    **dict.fromkeys(("deg", "rad", "pi"), "_fn_trig"),
    **dict.fromkeys(
        ("year", "month", "day_of_month", "day_of_year", "day_of_week", "days_in_month", "hour", "minute"), "_fn_date"
    ),
    **dict.fromkeys(("absent", "absent_over_time", "sort", "sort_desc", "timestamp", "vector", "scalar"), "_fn_vector"),
    **dict.fromkeys(("label_replace", "label_join"), "_fn_labels"),
    **dict.fromkeys(("histogram_quantile", "histogram_count", "histogram_sum", "histogram_fraction"), "_fn_histogram"),
    **dict.fromkeys(
        (
            *("rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets"),
            *("avg_over_time", "sum_over_time", "min_over_time", "max_over_time", "count_over_time"),
            *("last_over_time", "present_over_time", "stddev_over_time", "stdvar_over_time"),
            "quantile_over_time",
            "predict_linear",
            "holt_winters",
        ),
        "_range",
    ),
}
# Every function of Prometheus 2.42's table (``promql/parser/functions.go``): nothing refused.
SUPPORTED_FUNCTIONS = frozenset(FUNCTION_MODULES)
# Functions whose argument is a range vector (``absent_over_time`` is implemented with ``absent``).
RANGE_FUNCTIONS = frozenset(name for name, module in FUNCTION_MODULES.items() if module == "_range") | {
    "absent_over_time"
}
# Aggregation operators, all in ``_aggregate``.
AGGREGATIONS = frozenset(
    ("sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group")
)


def node_class(name: str) -> type[Call]:
    """The node class of function ``name``, importing its module now if no expression has yet."""
    module = __import__(f"healthgauge.promql.{FUNCTION_MODULES[name]}", fromlist=["FUNCTIONS"])
    cls: type[Call] = module.FUNCTIONS[name]
    return cls

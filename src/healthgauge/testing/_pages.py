"""Metric pages for tests and benchmarks: render families in either format, or generate a
realistic page of N series from a seed.

Everything rendered here parses back to the same samples (the round-trip test holds it to that),
and what a real Prometheus stores from it is the same again (the differential test).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from healthgauge.exposition import Sample
from healthgauge.exposition._names import OPENMETRICS_TYPES, TEXT_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class Exemplar:
    """An OpenMetrics exemplar: a trace's labels and value attached to a ``_total``/``_bucket`` sample."""

    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """A metric family as a page writes it: HELP/TYPE/UNIT lines, then its samples.

    ``name`` is written in the metadata lines as given (Prometheus text names a counter family
    ``x_total``, OpenMetrics ``x``); samples carry their full series names. ``exemplars`` maps a
    sample's index to its exemplar (OpenMetrics only).
    """

    name: str
    type: str = "untyped"
    help: str | None = None
    unit: str | None = None
    samples: tuple[Sample, ...] = ()
    exemplars: Mapping[int, Exemplar] = field(default_factory=dict)


def format_value(value: float) -> str:
    """A float as exporters write it, and as Prometheus reads back exactly."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return "-0" if value == 0 and math.copysign(1, value) < 0 else str(int(value))
    return repr(value)


def format_timestamp(seconds: float, *, openmetrics: bool = False) -> str:
    """A timestamp that Prometheus reads back as the same millisecond.

    Text: integer milliseconds. OpenMetrics: seconds, which Prometheus multiplies by 1000 and
    truncates; where the three-decimal spelling would land a millisecond early, one more digit
    keeps it on its millisecond.
    """
    millis = round(seconds * 1000)
    if not openmetrics:
        return str(millis)
    sign = "-" if millis < 0 else ""
    whole, frac = divmod(abs(millis), 1000)
    text = f"{sign}{whole}" if not frac else f"{sign}{whole}.{frac:03d}"
    if int(float(text) * 1000) != millis:
        text += "1"
    return text


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def render(families: Iterable[Family], *, openmetrics: bool = False) -> str:
    """The page for ``families``: Prometheus text 0.0.4, or OpenMetrics 1.0 ending in ``# EOF``."""
    out: list[str] = []
    for family in families:
        kind = family.type
        if openmetrics and kind == "untyped":
            kind = "unknown"
        allowed = OPENMETRICS_TYPES if openmetrics else TEXT_TYPES
        if kind not in allowed:
            raise ValueError(f"family {family.name!r}: type {family.type!r} does not exist in this format")
        if family.help is not None:
            out.append(f"# HELP {family.name} {_escape_help(family.help, openmetrics)}")
        out.append(f"# TYPE {family.name} {kind}")
        if family.unit is not None:
            if not openmetrics:
                raise ValueError(f"family {family.name!r}: UNIT exists only in OpenMetrics")
            out.append(f"# UNIT {family.name} {family.unit}")
        if family.exemplars and not openmetrics:
            raise ValueError(f"family {family.name!r}: exemplars exist only in OpenMetrics")
        for i, sample in enumerate(family.samples):
            line = f"{sample.name}{_labels(sample.labels)} {format_value(sample.value)}"
            if sample.timestamp is not None:
                line += " " + format_timestamp(sample.timestamp, openmetrics=openmetrics)
            exemplar = family.exemplars.get(i)
            if exemplar is not None:
                line += f" # {_labels(exemplar.labels) or '{}'} {format_value(exemplar.value)}"
                if exemplar.timestamp is not None:
                    line += " " + format_timestamp(exemplar.timestamp, openmetrics=True)
            out.append(line)
    if openmetrics:
        out.append("# EOF")
    return "\n".join(out) + "\n"


# -- realistic pages -----------------------------------------------------------------------------

_SUBSYSTEMS = (
    "http_server",
    "http_client",
    "rpc",
    "db_pool",
    "cache",
    "queue",
    "worker",
    "kafka_consumer",
    "grpc_server",
)
_THINGS = ("requests", "errors", "bytes", "connections", "tasks", "messages", "retries", "evictions", "sessions")
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_CODES = ("200", "201", "204", "301", "400", "401", "403", "404", "429", "500", "502", "503")
_HANDLERS = ("/", "/api/v1/users", "/api/v1/users/{id}", "/api/v1/orders", "/healthz", "/metrics", "/static/*")
# Label values that need escaping, as real exporters produce them (Windows paths, quoted SQL,
# multi-line messages): a probe that mishandles them drops the whole series.
_AWKWARD = ("C:\\Program Files\\app\\bin", 'SELECT * FROM "users"', "line one\nline two", 'say "hi"\\n')
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_QUANTILES = ("0.5", "0.9", "0.99")


def realistic_families(
    series: int, *, seed: int = 0, openmetrics: bool = False, timestamp: float | None = None
) -> list[Family]:
    """Families of exactly ``series`` series, the mix a busy service exposes: labelled counters and
    gauges, histograms (11 buckets + sum + count per label set), summaries, and about one label
    value in fifty that needs escaping. The same seed gives the same page.
    ``timestamp`` (seconds) stamps every sample."""
    rng = random.Random(seed)
    families: list[Family] = []
    left = series
    while left > 0:
        n = len(families)
        base = f"{rng.choice(_SUBSYSTEMS)}_{rng.choice(_THINGS)}_f{n}"
        kind = rng.choices(("counter", "gauge", "histogram", "summary"), weights=(30, 25, 35, 10))[0]
        per_set = {"histogram": len(_BUCKETS) + 3, "summary": len(_QUANTILES) + 2}.get(kind, 1)
        sets = min(rng.randint(1, 24), left // per_set)
        if sets == 0:
            kind, per_set, sets = "gauge", 1, left
        label_sets = _label_sets(rng, sets)
        builder = {"counter": _counter, "gauge": _gauge, "histogram": _histogram, "summary": _summary}[kind]
        family = builder(rng, base, label_sets, openmetrics)
        if timestamp is not None:
            stamped = tuple(Sample(s.name, s.labels, s.value, timestamp) for s in family.samples)
            family = Family(name=family.name, type=family.type, help=family.help, samples=stamped)
        families.append(family)
        left -= len(family.samples)
    return families


def realistic_page(series: int, *, seed: int = 0, openmetrics: bool = False, timestamp: float | None = None) -> str:
    """:func:`render` of :func:`realistic_families`."""
    families = realistic_families(series, seed=seed, openmetrics=openmetrics, timestamp=timestamp)
    return render(families, openmetrics=openmetrics)


def _label_sets(rng: random.Random, count: int) -> list[dict[str, str]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    out: list[dict[str, str]] = []
    while len(out) < count:
        labels = {"method": rng.choice(_METHODS), "code": rng.choice(_CODES)}
        labels["handler"] = rng.choice(_AWKWARD) if rng.random() < 0.02 else rng.choice(_HANDLERS)
        labels["peer"] = f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 254)}:8080"
        key = tuple(labels.items())
        if key not in seen:
            seen.add(key)
            out.append(labels)
    return out


def _counter(rng: random.Random, base: str, sets: list[dict[str, str]], openmetrics: bool) -> Family:
    name = f"{base}_total"
    samples = tuple(Sample(name, labels, float(rng.randint(0, 10**9))) for labels in sets)
    return Family(
        name=base if openmetrics else name, type="counter", help=f"Total {base.replace('_', ' ')}.", samples=samples
    )


def _gauge(rng: random.Random, base: str, sets: list[dict[str, str]], openmetrics: bool) -> Family:
    samples = tuple(Sample(base, labels, round(rng.uniform(-1e3, 1e6), 3)) for labels in sets)
    return Family(name=base, type="gauge", help=f"Current {base.replace('_', ' ')}.", samples=samples)


def _histogram(rng: random.Random, base: str, sets: list[dict[str, str]], openmetrics: bool) -> Family:
    name = base.replace("_f", "_seconds_f")
    samples: list[Sample] = []
    for labels in sets:
        count = 0
        for bound in _BUCKETS:
            count += rng.randint(0, 5000)
            samples.append(Sample(f"{name}_bucket", {**labels, "le": format_value(bound)}, float(count)))
        count += rng.randint(0, 50)
        samples.append(Sample(f"{name}_bucket", {**labels, "le": "+Inf"}, float(count)))
        samples.append(Sample(f"{name}_sum", labels, round(count * rng.uniform(0.01, 0.5), 6)))
        samples.append(Sample(f"{name}_count", labels, float(count)))
    return Family(name=name, type="histogram", help="Request latency.", samples=tuple(samples))


def _summary(rng: random.Random, base: str, sets: list[dict[str, str]], openmetrics: bool) -> Family:
    name = base.replace("_f", "_seconds_f")
    samples: list[Sample] = []
    for labels in sets:
        samples.extend(Sample(name, {**labels, "quantile": q}, round(rng.uniform(0, 2), 6)) for q in _QUANTILES)
        count = float(rng.randint(0, 10**6))
        samples.append(Sample(f"{name}_sum", labels, round(count * 0.12, 6)))
        samples.append(Sample(f"{name}_count", labels, count))
    return Family(name=name, type="summary", help="Job duration.", samples=tuple(samples))

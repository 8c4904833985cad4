"""A recorded 20-minute history for the differential suite, written once as OpenMetrics.

Deterministic (seeded). Timestamps fall on multiples of 1/8 s so that seconds -> milliseconds is
exact in binary floating point on both sides. Families: counters with resets, gauges with NaN and
±Inf, a classic histogram, a series with a gap longer than the lookback, irregular scrape times.
"""

from __future__ import annotations

import random

T0 = 1_700_000_000.0
STEP = 15.0
STEPS = 81  # 0 .. 1200 s


def samples() -> list[tuple[str, dict[str, str], float, float]]:
    """(name, labels, value, timestamp) ordered by family, series, then time."""
    rng = random.Random(20240601)
    out: list[tuple[str, dict[str, str], float, float]] = []

    def series(name: str, labels: dict[str, str], values: list[float | None], times: list[float] | None = None) -> None:
        times = times or [T0 + i * STEP for i in range(len(values))]
        out.extend((name, labels, v, t) for v, t in zip(values, times, strict=True) if v is not None)

    for job, instance, code, rate in (
        ("api", "a", "200", 20),
        ("api", "b", "200", 12),
        ("api", "a", "500", 2),
        ("web", "a", "200", 7),
    ):
        value = float(rng.randint(0, 1000))
        values: list[float | None] = []
        for i in range(STEPS):
            if i == 40 and instance == "a":
                value = float(rng.randint(0, 5))  # counter reset
            else:
                value += rng.randint(0, rate)
            values.append(value)
        series("http_requests_total", {"job": job, "instance": instance, "code": code}, values)

    for queue in ("default", "bulk", "slow"):
        series("queue_depth", {"queue": queue, "job": "worker"}, [float(rng.randint(0, 2000)) for _ in range(STEPS)])

    state = [1.0 if (i // 10) % 3 else 0.0 for i in range(STEPS)]
    series("app_state", {"job": "worker"}, state)
    series("app_last_iteration_ts", {"job": "worker"}, [T0 + i * STEP - (i % 7) * 11.5 for i in range(STEPS)])

    temps = [round(rng.uniform(-12.5, 40.0), 3) for _ in range(STEPS)]
    series("temp_celsius", {"room": "lab"}, temps)
    series("temp_celsius", {"room": "cold"}, [t - 30 for t in temps])

    specials = [float("nan"), float("inf"), float("-inf"), 0.0, -0.5, 2.5, 1e-300, 3.5e12]
    series("weird", {"kind": "special"}, [specials[i % len(specials)] for i in range(STEPS)])
    for k in range(4):  # at every instant four different specials, NaN and infinities among them
        series("special", {"k": str(k)}, [specials[(i + 2 * k) % len(specials)] for i in range(STEPS)])

    bounds = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
    for instance in ("a", "b"):
        counts = [0.0] * len(bounds)
        total = 0.0
        bucket_values: list[list[float | None]] = [[] for _ in bounds]
        sums: list[float | None] = []
        for _ in range(STEPS):
            for _ in range(rng.randint(0, 30)):
                observed = rng.expovariate(4.0)
                total += observed
                for j, bound in enumerate(bounds):
                    if bound == "+Inf" or observed <= float(bound):
                        counts[j] += 1
            for j in range(len(bounds)):
                bucket_values[j].append(counts[j])
            sums.append(round(total, 6))
        for j, bound in enumerate(bounds):
            series("req_duration_seconds_bucket", {"instance": instance, "le": bound}, bucket_values[j])
        series("req_duration_seconds_count", {"instance": instance}, bucket_values[-1])
        series("req_duration_seconds_sum", {"instance": instance}, sums)

    # A gap of 8 minutes (longer than the 5-minute lookback) between 300 s and 780 s.
    series("gappy", {"job": "x"}, [float(i) if i <= 20 or i >= 52 else None for i in range(STEPS)])

    # Irregular scrape times on 1/8 s boundaries.
    t = T0 + 0.125
    times, values = [], []
    while t < T0 + 1200:
        times.append(t)
        values.append(float(len(values) * 3 % 17))
        t += rng.choice((9.5, 10.0, 12.25, 20.875, 31.0))
    series("jitter", {"job": "x"}, values, times)

    # Label values for regexes as RE2 reads them: Unicode letters and digits, paths, dots, case.
    for i, v in enumerate(("Élan", "ΣΦ", "9", "٣", "x.y", "MiXeD", "a/b/c/health", "_under", "ǅ", "a b")):
        series("named", {"v": v}, [float(i)] * STEPS)
    return out


def to_openmetrics(data: list[tuple[str, dict[str, str], float, float]]) -> str:
    """OpenMetrics text as promtool reads it: each family once (typed unknown), timestamps in seconds."""
    lines = []
    seen = set()
    for name, labels, value, ts in data:
        if name not in seen:
            seen.add(name)
            lines.append(f"# TYPE {name} unknown")
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines.append(f"{name}{{{inner}}} {_value(value)} {ts!r}")
    return "\n".join(lines) + "\n# EOF\n"


def _value(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)

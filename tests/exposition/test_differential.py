"""Our parser against the reference: a real Prometheus 2.42 scrapes every page of the conformance
table (and realistic pages) on loopback; it must accept what we accept, refuse what we refuse, and
store exactly the samples we return.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from healthgauge.exposition import Sample, parse, parse_lenient
from healthgauge.testing import realistic_page
from support.exposition_cases import CASES, fill
from support.prometheus import Prometheus, create_blocks_from_openmetrics
from support.scrape import OPENMETRICS_TEXT, PROMETHEUS_TEXT, Page, Scrape, scrape_corpus

pytestmark = pytest.mark.real

Series = tuple[str, tuple[tuple[str, str], ...]]


def series(name: str, labels: dict[str, str]) -> Series:
    return name, tuple(sorted(labels.items()))


def disagreements(ours: list[Sample], stored: Scrape) -> list[str]:
    """How what Prometheus stored differs from our samples.

    A sample with a timestamp is stored once at that millisecond; one without is stored at each
    scrape's time, always with the same value.
    """
    stamped: dict[tuple[Series, int], str] = {}
    plain: dict[Series, str] = {}
    for s in ours:
        key = series(s.name, dict(s.labels))
        if s.timestamp is None:
            plain[key] = repr(s.value)
        else:
            stamped[key, round(s.timestamp * 1000)] = repr(s.value)
    problems = []
    found_stamped: set[tuple[Series, int]] = set()
    found_plain: set[Series] = set()
    for name, labels, value, ms in stored.samples:
        key = series(name, labels)
        if (key, ms) in stamped:
            found_stamped.add((key, ms))
            expected = stamped[key, ms]
        elif key in plain:
            found_plain.add(key)
            expected = plain[key]
        else:
            problems.append(f"Prometheus stored {key} = {value!r} at {ms}, we have no such sample")
            continue
        if repr(value) != expected:
            problems.append(f"{key} at {ms}: Prometheus {value!r}, ours {expected}")
    problems += [f"we have {k} = {plain[k]}, Prometheus stored none" for k in plain.keys() - found_plain]
    problems += [f"we have {k} at {ms}, Prometheus stored none" for k, ms in stamped.keys() - found_stamped]
    return problems


def test_prometheus_agrees_with_the_conformance_table(tmp_path: Path) -> None:
    # Recent enough for Prometheus's head block (it drops samples far in the past), in the past
    # so the samples are queryable now, and a whole second (@S@ is integer seconds).
    t_ms = (int(time.time()) - 120) * 1000
    pages = {c.id: Page(fill(c.page, t_ms), OPENMETRICS_TEXT if c.om else PROMETHEUS_TEXT) for c in CASES}
    scraped = scrape_corpus(tmp_path, pages)
    problems: list[str] = []
    for case in CASES:
        got = scraped[case.id]
        page = pages[case.id].body
        where = f"{case.id}: Prometheus {'accepted' if got.up else 'refused'} ({got.error or 'no error'})"
        if case.error is not None and case.prometheus == "same":
            if got.up:
                problems.append(f"{where}, we refuse it")
            continue
        if not got.up:
            problems.append(f"{where}, we accept it" if case.samples is not None else where)
            continue
        if case.prometheus in ("accepts", "unstored"):
            continue
        ours = parse_lenient(page, content_type=case.content_type())[0]
        problems += [f"{case.id}: {p}" for p in disagreements(ours, got)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_prometheus_stores_what_we_parse_from_realistic_pages(tmp_path: Path, openmetrics: bool) -> None:
    t = int(time.time()) - 60
    content_type = OPENMETRICS_TEXT if openmetrics else PROMETHEUS_TEXT
    bodies = {
        "plain": realistic_page(3_000, seed=11, openmetrics=openmetrics).encode(),
        "stamped": realistic_page(1_000, seed=12, openmetrics=openmetrics, timestamp=t + 0.25).encode(),
    }
    scraped = scrape_corpus(tmp_path, {k: Page(v, content_type) for k, v in bodies.items()})
    for key, body in bodies.items():
        assert scraped[key].up, scraped[key].error
        ours = parse(body, content_type=content_type)
        assert len(ours) == (3_000 if key == "plain" else 1_000)
        assert disagreements(ours, scraped[key]) == []


def test_history_files_load_as_promtool_loads_them(tmp_path: Path) -> None:
    """An OpenMetrics history (what `healthgauge query` reads) keeps the same samples and the
    same millisecond timestamps as `promtool tsdb create-blocks-from openmetrics` makes of it,
    including the timestamps Prometheus truncates (1079698247.001 s is 1079698247000 ms there)."""
    t0 = 1_079_698_247
    lines = ["# TYPE app_state gauge", "# TYPE app_lag_seconds gauge"]
    for i in range(40):
        lines.append(f'app_state{{job="w"}} {i % 3} {t0 + 15 * i}.001')
        lines.append(f"app_lag_seconds {i * 0.5} {t0 + 15 * i}.25")
    history = "\n".join(lines) + "\n# EOF\n"
    path = tmp_path / "history.om"
    path.write_text(history)
    create_blocks_from_openmetrics(path, tmp_path / "data")
    ours = parse(history, content_type=OPENMETRICS_TEXT)
    assert ours[0].timestamp == t0  # truncated to the millisecond below, as Prometheus does
    with Prometheus(tmp_path, data_dir=tmp_path / "data") as prom:
        end = t0 + 15 * 40
        stored = Scrape(up=True, error="")
        for expr in ("app_state[15m]", "app_lag_seconds[15m]"):
            for result in prom.query(expr, at=end)["result"]:
                labels = dict(result["metric"])
                name = labels.pop("__name__")
                for ts, value in result["values"]:
                    stored.samples.append((name, labels, float(value), round(float(ts) * 1000)))
    assert len(stored.samples) == 80
    assert disagreements(ours, stored) == []

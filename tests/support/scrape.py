"""Let a real Prometheus scrape a corpus of pages on loopback and read back what it stored.

Each page is served at its own path and scraped by its own job, so one Prometheus run answers for a
whole corpus: per page, whether the scrape succeeded (`up`), Prometheus's error text, and every
sample it stored (read back with a range query, so explicit timestamps survive).
"""

from __future__ import annotations

import http.server
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.procs import wait_until
from support.prometheus import Prometheus

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TEXT = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Series Prometheus adds to every target; a corpus page must not use these names.
_SYNTHETIC = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str = PROMETHEUS_TEXT


@dataclass(slots=True)
class Scrape:
    """What Prometheus made of one page."""

    up: bool
    error: str
    # (name, labels without job/instance, value, timestamp in ms); one entry per stored sample.
    samples: list[tuple[str, dict[str, str], float, int]] = field(default_factory=list)

    def latest(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The last stored value of each series (what an instant query at scrape time returns)."""
        out: dict[tuple[str, frozenset[tuple[str, str]]], tuple[int, float]] = {}
        for name, labels, value, ts in self.samples:
            key = (name, frozenset(labels.items()))
            if key not in out or out[key][0] <= ts:
                out[key] = (ts, value)
        return {k: v for k, (_, v) in out.items()}


class _Handler(http.server.BaseHTTPRequestHandler):
    pages: Mapping[str, Page] = {}

    def do_GET(self) -> None:
        page = self.pages.get(self.path.lstrip("/"))
        if page is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        self.wfile.write(page.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(pages: Mapping[str, Page]) -> Iterator[str]:
    """Serve `pages` at http://127.0.0.1:PORT/<key>; yields host:port."""
    handler = type("Handler", (_Handler,), {"pages": dict(pages)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _config(address: str, keys: list[str]) -> str:
    jobs = "".join(
        f"  - job_name: {key!r}\n    metrics_path: /{key}\n    static_configs: [{{targets: [{address!r}]}}]\n"
        for key in keys
    )
    return f"global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n{jobs}"


def scrape_corpus(workdir: Path, pages: Mapping[str, Page], *, timeout: float = 60) -> dict[str, Scrape]:
    """Serve every page, let one real Prometheus scrape each at least once, and return what it kept.

    Page keys must be usable as job names and URL paths (letters, digits, `_`, `-`).
    """
    keys = sorted(pages)
    with serving(pages) as address, Prometheus(workdir, config=_config(address, keys)) as prom:
        health: dict[str, tuple[bool, str]] = {}

        def all_scraped() -> bool:
            targets = prom.api("targets", state="active")["data"]["activeTargets"]
            health.clear()
            for t in targets:
                # A transport error (`Get "...": context deadline exceeded` on a loaded machine)
                # says nothing about the page: wait for the next scrape.
                if t["health"] != "unknown" and not t["lastError"].startswith("Get "):
                    health[t["labels"]["job"]] = (t["health"] == "up", t["lastError"])
            return len(health) == len(keys)

        wait_until(all_scraped, timeout=timeout, interval=0.2, what="every corpus page scraped once")
        # A second look after the first scrape has been committed, so the samples are queryable.
        time.sleep(0.2)
        all_scraped()
        result = {key: Scrape(up=health[key][0], error=health[key][1]) for key in keys}
        data = prom.query('{job=~".+"}[1h]', at=time.time() + 1)
        for series in data["result"]:
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            job = labels.pop("job")
            labels.pop("instance", None)
            if name in _SYNTHETIC:
                continue
            for ts, text in series["values"]:
                result[job].samples.append((name, labels, _float(text), round(float(ts) * 1000)))
        return result


def _float(text: str) -> float:
    return math.nan if text == "NaN" else float(text)

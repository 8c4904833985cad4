"""A real Prometheus (Debian 2.42) on a loopback port, with its own temporary data directory.

The oracle for the exposition formats and PromQL: where the specs leave room, what Prometheus
accepts and answers is the contract (../shared/specs/metrics-checks.md).
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from support.procs import free_port, http_get, require, stop, wait_until


class Prometheus:
    """One Prometheus server; use as a context manager so it is always stopped."""

    def __init__(
        self, workdir: Path, *, config: str = "", data_dir: Path | None = None, start_timeout: float = 30
    ) -> None:
        self.binary = require("prometheus")
        self.workdir = workdir
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(config or "global: {}\n")
        self.data_dir = data_dir or workdir / "data"
        self.log_path = workdir / "prometheus.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> Prometheus:
        for _attempt in range(5):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            argv = [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ]
            log = self.log_path.open("ab")
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            try:
                wait_until(self._ready, timeout=self.start_timeout, what="prometheus /-/ready")
                return self
            except AssertionError:
                stop(self.proc)
                if "address already in use" not in self.log_path.read_text(errors="replace"):
                    raise AssertionError(f"prometheus did not start:\n{self.log_path.read_text()[-3000:]}") from None
        raise AssertionError("prometheus could not bind a free port in 5 attempts")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        return http_get(f"{self.url}/-/ready", timeout=1)[0] == 200

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns the decoded JSON document (status and data)."""
        status, body = http_get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=10)
        if not body:
            raise AssertionError(f"prometheus answered {status} with no body for {path} {params}")
        return json.loads(body)

    def query(self, expr: str, at: float | None = None) -> Any:
        """The `data` object of an instant query, or raise with Prometheus's error."""
        params = {"query": expr}
        if at is not None:
            params["time"] = repr(at)
        doc = self.api("query", **params)
        if doc.get("status") != "success":
            raise PrometheusError(doc.get("errorType", ""), doc.get("error", ""))
        return doc["data"]

    def reload(self) -> None:
        """Re-read the configuration file (POST /-/reload)."""
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


class PrometheusError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def create_blocks_from_openmetrics(openmetrics: Path, data_dir: Path) -> None:
    """Load a recorded history into a TSDB directory with `promtool tsdb create-blocks-from openmetrics`."""
    promtool = require("promtool")
    out = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"promtool failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")

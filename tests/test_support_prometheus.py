"""The Prometheus harness itself works: the differential suites stand on it."""

from pathlib import Path

import pytest

from support.prometheus import Prometheus, create_blocks_from_openmetrics

pytestmark = pytest.mark.real


def test_history_loaded_with_promtool_is_queryable(tmp_path: Path) -> None:
    t0 = 1_700_000_000
    lines = ["# TYPE app_state gauge"]
    lines += [f'app_state{{job="w"}} {i % 2} {t0 + 15 * i}' for i in range(20)]
    om = tmp_path / "history.om"
    om.write_text("\n".join(lines) + "\n# EOF\n")
    create_blocks_from_openmetrics(om, tmp_path / "data")
    with Prometheus(tmp_path, data_dir=tmp_path / "data") as prom:
        data = prom.query("app_state", at=t0 + 15 * 19)
        assert data["resultType"] == "vector"
        assert data["result"] == [{"metric": {"__name__": "app_state", "job": "w"}, "value": [t0 + 285, "1"]}]
        # Past the 5-minute lookback the series is gone.
        assert prom.query("app_state", at=t0 + 15 * 19 + 301)["result"] == []

"""Fixtures for the probe kinds: a real PostgreSQL for the session, tables built like the config's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healthgauge.agent._config import parse_duration
from healthgauge.probes import Probe, Table, build
from support.postgres import Postgres, postgres


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    with postgres() as server:
        server.psql(
            "CREATE TABLE jobs (id serial PRIMARY KEY, state text NOT NULL);"
            "INSERT INTO jobs (state) VALUES ('queued'), ('queued'), ('done');"
        )
        yield server


def table(raw: dict[str, Any], base: Path | None = None) -> Table:
    return Table(raw=raw, key="targets[0]", base=base, duration=parse_duration)


def make(kind: str, raw: dict[str, Any], timeout: float = 2.0) -> Probe:
    return build(kind, table({"kind": kind, **raw}), timeout)


def values(samples: Any) -> dict[str, float]:
    """Samples as name{labels} -> value, for assertions."""
    out = {}
    for s in samples:
        labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
        out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out

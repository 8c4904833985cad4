"""``broker.toml`` -> :class:`BrokerConfig`; every error names the key and what is wrong with it.

Pure: text in, a frozen config out (the command reads the file, and exits 3 on a
:class:`ConfigError`). The request classifier and the affinity key are compiled here once, so the
proxy only runs them (STYLE.md 5). An example with every key: ``examples/broker/broker.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from healthgauge.broker._broker import PULL_ORDER, JobClass, QueueLimits
from healthgauge.overload._types import Criticality

__all__ = ["AffinityKey", "BrokerConfig", "ConfigError", "Rule", "WorkerConfig", "load_config", "parse_config"]

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(ValueError):
    """The configuration is wrong; ``str()`` names the key (``workers[1].url: ...``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    name: str
    host: str
    port: int
    max_inflight: int = 4
    agent_port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AffinityKey:
    """Where a request's affinity key comes from: ``path`` segment N (1 = first), a ``header``,
    a ``query`` parameter, or ``none``. A request may also name it in ``Healthgauge-Affinity``."""

    source: str = "none"
    name: str = ""
    segment: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One classification rule; the first whose every condition matches gives the class."""

    job_class: JobClass
    path_prefix: str = ""
    methods: frozenset[str] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, exact value, "" = present)
    cost: float | None = None

    def matches(self, method: str, path: str, fields: Mapping[bytes, bytes]) -> bool:
        if self.path_prefix and not path.startswith(self.path_prefix):
            return False
        if self.methods and method not in self.methods:
            return False
        for name, want in self.headers:
            got = fields.get(name.encode())
            if got is None or (want and got.decode("latin-1").strip().lower() != want):
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    listen: tuple[str, int]
    admin: tuple[str, int] | None = None
    agent_check: tuple[str, int] | None = None
    workers: tuple[WorkerConfig, ...]
    timeout: float = 30.0
    max_offers: int = 3
    retry_after: int = 1
    drain_grace: float = 10.0
    report_interval: float = 1.0
    refusal_backoff: float = 0.25
    retry_body: int = 1024 * 1024
    affinity_wait: float = 0.0
    affinity: AffinityKey = field(default_factory=AffinityKey)
    queues: Mapping[JobClass, QueueLimits] = field(default_factory=dict)
    pull_order: tuple[JobClass, ...] = PULL_ORDER
    rules: tuple[Rule, ...] = ()

    def classify(self, method: str, path: str, fields: Mapping[bytes, bytes]) -> tuple[JobClass, float | None]:
        """The class and cost of a request: the first matching rule, else interactive."""
        for rule in self.rules:
            if rule.matches(method, path, fields):
                return rule.job_class, rule.cost
        return JobClass.INTERACTIVE, None

    def affinity_key(self, path: str, query: str, fields: Mapping[bytes, bytes]) -> str | None:
        given = fields.get(b"healthgauge-affinity")
        if given is not None:
            return given.decode("latin-1")
        aff = self.affinity
        if aff.source == "path":
            parts = path.split("/")
            return parts[aff.segment] if aff.segment < len(parts) and parts[aff.segment] else None
        if aff.source == "header":
            value = fields.get(aff.name.encode())
            return value.decode("latin-1") if value is not None else None
        if aff.source == "query":
            prefix = aff.name + "="
            for pair in query.split("&"):
                if pair.startswith(prefix):
                    return pair[len(prefix) :]
        return None


def load_config(path: str) -> BrokerConfig:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_config(text, source=path)


_TOP = {
    "listen", "admin", "agent_check", "workers", "timeout", "max_offers", "retry_after", "drain_grace",
    "report_interval", "refusal_backoff", "retry_body", "affinity", "affinity_wait", "queues", "pull_order",
    "rules",
}  # fmt: skip


def parse_config(text: str, *, source: str = "broker.toml") -> BrokerConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    _known(doc, _TOP, "")
    if "listen" not in doc:
        raise ConfigError('listen: required, the address clients connect to, e.g. "127.0.0.1:8080"')
    workers = doc.get("workers")
    if not isinstance(workers, list) or not workers:
        raise ConfigError("workers: required, a list of [[workers]] tables with a url each")
    parsed = tuple(_worker(w, f"workers[{i}]") for i, w in enumerate(workers))
    names = [w.name for w in parsed]
    if len(set(names)) != len(names):
        raise ConfigError(f"workers: names must differ, got {names}")
    return BrokerConfig(
        listen=_address(doc["listen"], "listen"),
        admin=_address(doc["admin"], "admin") if "admin" in doc else None,
        agent_check=_address(doc["agent_check"], "agent_check") if "agent_check" in doc else None,
        workers=parsed,
        timeout=_duration(doc.get("timeout", "30s"), "timeout"),
        max_offers=_int(doc.get("max_offers", 3), "max_offers", 1, 16),
        retry_after=_int(doc.get("retry_after", 1), "retry_after", 1, 3600),
        drain_grace=_duration(doc.get("drain_grace", "10s"), "drain_grace", zero=True),
        report_interval=_duration(doc.get("report_interval", "1s"), "report_interval"),
        refusal_backoff=_duration(doc.get("refusal_backoff", "250ms"), "refusal_backoff", zero=True),
        retry_body=_int(doc.get("retry_body", 1024 * 1024), "retry_body", 0, 1 << 30),
        affinity=_affinity(doc.get("affinity", {}), "affinity"),
        affinity_wait=_duration(doc.get("affinity_wait", 0), "affinity_wait", zero=True),
        queues=_queues(doc.get("queues", {}), "queues"),
        pull_order=_pull_order(doc.get("pull_order", [c.value for c in PULL_ORDER]), "pull_order"),
        rules=tuple(_rule(r, f"rules[{i}]") for i, r in enumerate(_list(doc.get("rules", []), "rules"))),
    )


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    for key in table:
        if key not in keys:
            raise ConfigError(f"{where}{key}: unknown key (known: {', '.join(sorted(keys))})")


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: a table, got {value!r}")
    return value


def _list(value: object, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: a list, got {value!r}")
    return value


def _int(value: object, key: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{key}: an integer from {low} to {high}, got {value!r}")
    return value


def _duration(value: object, key: str, *, zero: bool = False) -> float:
    """``"500ms"``, ``"2s"``, ``"1m"``, ``"1h"``, or a number of seconds."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        unit = "ms" if text.endswith("ms") else text[-1:]
        number = text[: -len(unit)] if unit in _UNITS else ""
        try:
            seconds = float(number) * _UNITS[unit] if number else None
        except ValueError:
            seconds = None
    if seconds is None or seconds != seconds or seconds < 0 or (seconds == 0 and not zero) or seconds > 86400:
        raise ConfigError(f'{key}: a duration such as "500ms" or "2s" (> 0, ≤ 1 day), got {value!r}')
    return seconds


def _address(value: object, key: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f'{key}: an address "host:port", got {value!r}')
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'{key}: an address "host:port" with a port 0-65535, got {value!r}')
    return host, int(port)


def _worker(value: object, key: str) -> WorkerConfig:
    table = _table(value, key)
    _known(table, {"url", "name", "max_inflight", "agent_port"}, key + ".")
    url = table.get("url")
    if not isinstance(url, str):
        raise ConfigError(f'{key}.url: required, e.g. "http://127.0.0.1:9001"')
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f'{key}.url: "http://host:port" (plain HTTP/1.1, no path), got {url!r}')
    name = table.get("name", f"{parts.hostname}:{port}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{key}.name: a non-empty string, got {name!r}")
    agent = table.get("agent_port")
    return WorkerConfig(
        name=name,
        host=parts.hostname,
        port=port,
        max_inflight=_int(table.get("max_inflight", 4), f"{key}.max_inflight", 1, 100000),
        agent_port=None if agent is None else _int(agent, f"{key}.agent_port", 1, 65535),
    )


def _affinity(value: object, key: str) -> AffinityKey:
    table = _table(value, key)
    _known(table, {"path_segment", "header", "query"}, key + ".")
    if len(table) > 1:
        raise ConfigError(f"{key}: one of path_segment, header or query, got {sorted(table)}")
    if "path_segment" in table:
        return AffinityKey(source="path", segment=_int(table["path_segment"], f"{key}.path_segment", 1, 64))
    for source in ("header", "query"):
        if source in table:
            name = table[source]
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{key}.{source}: a non-empty name, got {name!r}")
            return AffinityKey(source=source, name=name.lower() if source == "header" else name)
    return AffinityKey()


def _job_class(value: object, key: str) -> JobClass:
    try:
        return JobClass(value)
    except ValueError:
        raise ConfigError(f"{key}: one of {', '.join(c.value for c in JobClass)}, got {value!r}") from None


def _queues(value: object, key: str) -> dict[JobClass, QueueLimits]:
    table = _table(value, key)
    out = {}
    for name, sub in table.items():
        where = f"{key}.{name}"
        job_class = _job_class(name, where)
        limits = _table(sub, where)
        _known(limits, {"capacity", "max_wait", "max_share"}, where + ".")
        share = limits.get("max_share", 1.0)
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
            raise ConfigError(f"{where}.max_share: a fraction of a worker's slots, 0 < share ≤ 1, got {share!r}")
        out[job_class] = QueueLimits(
            capacity=_int(limits.get("capacity", 64), f"{where}.capacity", 0, 1_000_000),
            max_wait=_duration(limits.get("max_wait", "1s"), f"{where}.max_wait"),
            max_share=float(share),
        )
    return out


def _pull_order(value: object, key: str) -> tuple[JobClass, ...]:
    order = tuple(_job_class(v, f"{key}[{i}]") for i, v in enumerate(_list(value, key)))
    if sorted(c.value for c in order) != sorted(c.value for c in JobClass):
        raise ConfigError(f"{key}: name each of {', '.join(c.value for c in JobClass)} once, got {list(value)}")  # type: ignore[call-overload]
    return order


def _rule(value: object, key: str) -> Rule:
    table = _table(value, key)
    _known(table, {"class", "path_prefix", "methods", "headers", "cost"}, key + ".")
    if "class" not in table:
        raise ConfigError(f"{key}.class: required, one of {', '.join(c.value for c in JobClass)}")
    prefix = table.get("path_prefix", "")
    if not isinstance(prefix, str):
        raise ConfigError(f"{key}.path_prefix: a string, got {prefix!r}")
    methods = _list(table.get("methods", []), f"{key}.methods")
    if not all(isinstance(m, str) and m.isalpha() for m in methods):
        raise ConfigError(f"{key}.methods: a list of method names, got {methods!r}")
    headers = _table(table.get("headers", {}), f"{key}.headers")
    for name, want in headers.items():
        if not isinstance(want, str):
            raise ConfigError(f'{key}.headers.{name}: a string ("" = present), got {want!r}')
        if name.lower() == "healthgauge-criticality" and want:
            try:
                Criticality.parse(want)
            except ValueError as exc:
                raise ConfigError(f"{key}.headers.{name}: {exc}") from None
    cost = table.get("cost")
    if cost is not None and (not isinstance(cost, int | float) or isinstance(cost, bool) or not cost > 0):
        raise ConfigError(f"{key}.cost: a positive number, got {cost!r}")
    return Rule(
        job_class=_job_class(table["class"], f"{key}.class"),
        path_prefix=prefix,
        methods=frozenset(m.upper() for m in methods),
        headers=tuple((n.lower(), w.strip().lower()) for n, w in headers.items()),
        cost=None if cost is None else float(cost),
    )

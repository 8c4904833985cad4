"""The agent's TOML configuration, validated whole at start.

Every error names the key and quotes the text, e.g.
``targets[0].ready[1]: invalid PromQL "app_state ==": ...``; unknown keys are errors, so a typo
never passes silently. Every PromQL text is compiled here, once (the scrape loop only evaluates).
See the README section "``healthgauge agent``" for every key.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthgauge.agent import _probeconfig
from healthgauge.agent.judge._engine import Engine, EngineError, Expr
from healthgauge.agent.judge._promql_engine import promql_engine
from healthgauge.agent.servers._registry import LISTENERS, missing_extra  # [agent] keys of more listeners
from healthgauge.health._cascade import Guard
from healthgauge.health._damping import Damping
from healthgauge.health._grpc import service_names
from healthgauge.health._spec import TargetSpec
from healthgauge.health._state import Overloaded, Policy
from healthgauge.http._http11 import RequestError
from healthgauge.http._url import build_request, check_header, parse_url
from healthgauge.probes import SpecError

DEFAULT_LISTEN = "127.0.0.1:8099"
DEFAULT_GRACE = 5.0
DEFAULT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 5.0
# Prometheus's own default body_size_limit is 0 (none); a health agent must not buffer an
# unbounded page, and the largest pages seen in the wild (kube-state-metrics, big node exporters)
# stay within a few MiB. 16 MiB leaves room and bounds memory per in-flight scrape.
DEFAULT_BODY_LIMIT = 16 * 1024 * 1024
MAX_BODY_LIMIT = 32 * 1024 * 1024  # the exposition parser's own page cap (DEFAULT_MAX_BODY_BYTES)
# Samples one scrape may yield of the metrics the rules read (Prometheus's sample_limit, which is 0,
# none, by default there): each parsed sample costs ~0.3-0.5 KB of Python objects, so 10k bounds a
# scrape's parse near 5 MB; a health rule reads a few series, rarely thousands. Series a target's
# history may hold at once (label sets that churn, with a range rule, keep dead series for the
# whole range; ~1.2 KB each): twice that, ~25 MB at most, and each evaluation walks them. Past
# either cap the target is unhealthy and the reason says which.
DEFAULT_SAMPLE_LIMIT = 10_000
DEFAULT_SERIES_LIMIT = 20_000
MAX_SERIES_CAP = 1_000_000
# Minimum history beyond the longest range in the rules: two intervals, so a rate() over [1m]
# still has a sample at each end when a scrape arrives late.
HISTORY_SLACK_INTERVALS = 2

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}

TARGET_KEYS = ("name", "url", "urls")
RULE_KEYS = ("live", "ready", "warn", "weight", "maxconn")
SHARED_KEYS = (
    "interval",
    "timeout",
    "headers",
    "token",
    "rise",
    "fall",
    "live_fall",
    "overloaded",
    "history",
    "body_limit",
    "ca_file",
    "insecure",
    "sample_limit",
    "series_limit",
    *_probeconfig.KEYS,
)
# Keys of every probe kind (any may sit in [defaults]), and the shared keys a probe has no use for.
PROBE_KEYS = tuple(
    dict.fromkeys(k for kind in _probeconfig.KINDS[1:] for k in _probeconfig.probe_keys(kind) if k != "url")
)
PROBE_ONLY_METRICS = ("token", "body_limit", "headers", "ca_file", "insecure", "sample_limit", "series_limit")
AGENT_KEYS = ("listen", "admin", "admin_token_file", "shutdown_grace", "haproxy_default", "state_file")


class AgentConfigError(Exception):
    """The configuration is wrong; the message names the file, the key and the offending text."""


ConfigError = AgentConfigError  # the name before 0.2 (it clashed across the public API); kept as an alias


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """Where a listener binds: ``host:port`` (port 0 picks a free one), or a unix socket path."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One PromQL text, compiled, with the key it came from (for messages)."""

    key: str
    text: str
    expr: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetConfig:
    """One scraped endpoint and the rules that judge it."""

    name: str
    url: str
    interval: float
    timeout: float
    headers: tuple[tuple[str, str], ...] = ()
    live: tuple[Rule, ...] = ()
    ready: tuple[Rule, ...] = ()
    warn: tuple[Rule, ...] = ()
    weight: Rule | None = None
    maxconn: Rule | None = None
    policy: Policy = field(default_factory=Policy)
    history: float = 0.0
    body_limit: int = DEFAULT_BODY_LIMIT
    # https only: a CA bundle (PEM) to trust instead of the system's, or no verification at all
    # (kubelet's https probes and Prometheus' insecure_skip_verify). Ignored for http:// URLs.
    ca_file: str = ""
    insecure: bool = False
    sample_limit: int = DEFAULT_SAMPLE_LIMIT
    series_limit: int = DEFAULT_SERIES_LIMIT
    # What is checked: the page at ``url`` (kind "metrics"), or a probe (healthgauge.probes), whose
    # ``url`` is then a description of what it probes (without secrets).
    kind: str = "metrics"
    probe: _probeconfig.ProbeSetup | None = None
    damping: Damping | None = None
    group: str = ""

    def spec(self) -> TargetSpec:
        """What its consumers read beside its state: policy, interval, whether it limits maxconn."""
        return TargetSpec(
            name=self.name, policy=self.policy, interval=self.interval, limits_maxconn=self.maxconn is not None
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        extra = tuple(r for r in (self.weight, self.maxconn) if r is not None)
        return (*self.live, *self.ready, *self.warn, *extra)

    @property
    def names(self) -> frozenset[str] | None:
        """Metric names the rules read, for parsing only those; ``None`` when any may be read."""
        names: set[str] = set()
        for rule in self.rules:
            if rule.expr.names is None:
                return None
            names.update(rule.expr.names)
        return frozenset(names)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Agent-wide settings: listeners and shutdown."""

    listen: Address
    admin: Address | None = None
    shutdown_grace: float = DEFAULT_GRACE
    listeners: Mapping[str, Address] = field(default_factory=dict)
    # The target an HAProxy agent check answers for when HAProxy sends no name (no agent-send).
    haproxy_default: str = ""
    # The bearer token the admin API requires ("" for none), read from admin_token_file; never shown.
    admin_token: str = field(default="", repr=False)
    # Where admin and judged states are kept across restarts (agent/state/_statecodec.py); "" for nowhere.
    state_file: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    agent: AgentConfig
    targets: tuple[TargetConfig, ...]
    groups: Mapping[str, Guard] = field(default_factory=dict)

    def target(self, name: str) -> TargetConfig | None:
        return next((t for t in self.targets if t.name == name), None)

    def specs(self) -> dict[str, TargetSpec]:
        """Every target's consumer-facing spec, in configuration order (for the hub)."""
        return {t.name: t.spec() for t in self.targets}


def load_config(path: str | Path, engine: Engine | None = None) -> Config:
    """Read and validate a TOML file; raise :class:`ConfigError` naming the file. Rules are
    compiled by ``engine`` (:func:`promql_engine` when ``None``)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return parse_config(text, engine, base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def parse_config(text: str, engine: Engine | None = None, *, base: Path | None = None) -> Config:
    """Validate a TOML document (pure apart from compiling through ``engine``, :func:`promql_engine`
    when ``None``, and checking that files it names can be read). Relative paths are taken from
    ``base`` (the configuration file's directory; the working directory when ``None``), as
    Prometheus does."""
    engine = engine if engine is not None else promql_engine()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from exc
    _known(doc, ("agent", "defaults", "targets", "groups"), "")
    agent = _agent(_table(doc, "agent", ""), "agent", base)
    defaults = _table(doc, "defaults", "")
    _known(defaults, SHARED_KEYS + RULE_KEYS + PROBE_KEYS, "defaults.")
    try:
        groups = _probeconfig.groups(doc.get("groups"))
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    raw_targets = doc.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ConfigError("targets: at least one [[targets]] table is required")
    targets: list[TargetConfig] = []
    for index, raw in enumerate(raw_targets):
        key = f"targets[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: must be a table, got {raw!r}")
        targets += _targets({**defaults, **raw}, key, engine, base)
    _unique(targets)
    _grouped(targets, groups)
    if agent.haproxy_default and agent.haproxy_default not in {t.name for t in targets}:
        raise ConfigError(f'agent.haproxy_default: "{agent.haproxy_default}" names no target')
    if "grpc_listen" in agent.listeners:
        try:
            service_names([t.name for t in targets])
        except ValueError as exc:
            raise ConfigError(f"targets: {exc}") from None
    return Config(agent=agent, targets=tuple(targets), groups=groups)


def parse_duration(value: object, key: str) -> float:
    """``"500ms"``, ``"1s"``, ``"5m"``, ``"1h"`` or a sum such as ``"1m30s"``, in seconds."""
    if not isinstance(value, str):
        raise ConfigError(f'{key}: a duration is a string such as "1s" or "500ms", got {value!r}')
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ConfigError(f'{key}: invalid duration "{value}": use a number with ms, s, m or h (e.g. "500ms", "1m30s")')
    return total


def parse_address(value: object, key: str, *, unix: bool = False) -> Address:
    """``host:port``, ``[v6]:port`` or (where allowed) ``unix:/path``."""
    if not isinstance(value, str):
        raise ConfigError(f'{key}: an address is a string such as "127.0.0.1:8099", got {value!r}')
    if value.startswith("unix:"):
        if not unix:
            raise ConfigError(f'{key}: "{value}": a unix socket is not supported here')
        if not value[5:].startswith("/"):
            raise ConfigError(f'{key}: "{value}": a unix socket needs an absolute path')
        return Address(path=value[5:])
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f'{key}: invalid address "{value}": expected host:port')
    return Address(host=host, port=int(port))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _agent(raw: dict[str, Any], key: str, base: Path | None) -> AgentConfig:
    _known(raw, AGENT_KEYS + tuple(LISTENERS), f"{key}.")
    listen = parse_address(raw.get("listen", DEFAULT_LISTEN), f"{key}.listen")
    admin = None
    if "admin" in raw:
        admin = parse_address(raw["admin"], f"{key}.admin", unix=True)
        if not admin.path and not is_loopback(admin.host):
            raise ConfigError(f'{key}.admin: "{raw["admin"]}" is not a loopback address (use 127.0.0.1, ::1 or unix:)')
    token = _admin_token(raw, key, base) if "admin_token_file" in raw else ""
    if token and admin is None:
        raise ConfigError(f"{key}.admin_token_file: there is no admin listener (set {key}.admin)")
    grace = _duration(raw, "shutdown_grace", key, DEFAULT_GRACE, minimum=0.0)
    listeners = {name: parse_address(raw[name], f"{key}.{name}") for name in LISTENERS if name in raw}
    for name in listeners:
        if (why := missing_extra(name)) is not None:
            raise ConfigError(f"{key}.{name}: {why}")
    default = raw.get("haproxy_default", "")
    if default != "":
        default = _name(default, f"{key}.haproxy_default")
    state_file = _state_file(raw["state_file"], f"{key}.state_file", base) if "state_file" in raw else ""
    return AgentConfig(
        listen=listen,
        admin=admin,
        admin_token=token,
        shutdown_grace=grace,
        listeners=listeners,
        haproxy_default=default,
        state_file=state_file,
    )


def _targets(raw: dict[str, Any], key: str, engine: Engine, base: Path | None) -> list[TargetConfig]:
    """One [[targets]] table: one target with ``url``, or one per entry of ``urls``; or a probe."""
    try:
        kind = _probeconfig.kind_of(raw, key)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    if kind != "metrics":
        return [_probe_target(raw, key, kind, engine, base)]
    _known(raw, TARGET_KEYS + SHARED_KEYS + RULE_KEYS, f"{key}.")
    if ("url" in raw) == ("urls" in raw):
        raise ConfigError(f"{key}: give exactly one of url (one target) or urls (name = url, many targets)")
    if "url" in raw:
        name = _name(raw.get("name"), f"{key}.name")
        urls = {name: _url(raw["url"], f"{key}.url")}
    else:
        if "name" in raw:
            raise ConfigError(f"{key}.name: with urls, each target is named by its key in urls")
        table = raw["urls"]
        if not isinstance(table, dict) or not table:
            raise ConfigError(f'{key}.urls: a table of name = url, e.g. urls = {{ a = "http://..." }}, got {table!r}')
        urls = {_name(n, f"{key}.urls"): _url(u, f"{key}.urls.{n}") for n, u in table.items()}
    shared = _shared(raw, key, engine, base)
    for url in urls.values():
        try:  # the request the scrape loop will send, built once now: what it refuses, --check refuses
            build_request(parse_url(url), shared["headers"])
        except RequestError as exc:
            raise ConfigError(f"{key}: {exc.message}") from None
    return [TargetConfig(name=name, url=url, **shared) for name, url in urls.items()]


def _probe_target(raw: dict[str, Any], key: str, kind: str, engine: Engine, base: Path | None) -> TargetConfig:
    """A probe target: ``name``, the shared keys, the rules (``ready`` by default on
    ``probe_success``) and its kind's own keys, validated by building the probe once."""
    own = _probeconfig.probe_keys(kind)
    _known(raw, ("name", *own, *(k for k in SHARED_KEYS if k not in PROBE_ONLY_METRICS), *RULE_KEYS), f"{key}.")
    name = _name(raw.get("name"), f"{key}.name")
    raw = {**{role: list(rules) for role, rules in _probeconfig.DEFAULT_RULES[kind].items()}, **raw}
    shared = _shared({k: v for k, v in raw.items() if k not in own}, key, engine, base)
    try:
        setup = _probeconfig.setup(raw, key, base, shared["timeout"], parse_duration)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    return TargetConfig(name=name, url=setup.description, kind=kind, probe=setup, **shared)


def _grouped(targets: list[TargetConfig], groups: Mapping[str, Guard]) -> None:
    for index, target in enumerate(targets):
        if target.group and target.group not in groups:
            raise ConfigError(
                f'targets[{index}].group: "{target.group}" is not declared: add [groups.{target.group}] '
                "(max_unready = 0.5 takes at most half of the group out at once)"
            )


def _shared(raw: dict[str, Any], key: str, engine: Engine, base: Path | None) -> dict[str, Any]:
    interval = _duration(raw, "interval", key, DEFAULT_INTERVAL, minimum=0.001)
    timeout = _duration(raw, "timeout", key, min(DEFAULT_TIMEOUT, interval), minimum=0.001)
    if timeout > interval:
        raise ConfigError(f"{key}.timeout: {raw.get('timeout')!r} is longer than the interval {raw.get('interval')!r}")
    rules = {name: _rules(raw.get(name, []), f"{key}.{name}", engine) for name in ("live", "ready", "warn")}
    weight = _number_rule(raw, "weight", key, engine)
    maxconn = _number_rule(raw, "maxconn", key, engine)
    every = (*rules["live"], *rules["ready"], *rules["warn"], *(r for r in (weight, maxconn) if r is not None))
    longest = max((r.expr.max_range for r in every), default=0.0)
    needed = longest + HISTORY_SLACK_INTERVALS * interval if longest else 0.0
    history = _duration(raw, "history", key, needed, minimum=0.0)
    if history < longest:
        raise ConfigError(
            f"{key}.history: {raw['history']!r} is shorter than the longest range in the rules ({longest:g}s)"
        )
    group = raw.get("group", "")
    if group != "" and (not isinstance(group, str) or not NAME.fullmatch(group)):
        raise ConfigError(f"{key}.group: a group name (letters, digits, '_', '.' or '-'), got {group!r}")
    try:
        damping = _probeconfig.damping(raw.get("damping"), f"{key}.damping", parse_duration)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    return {
        "interval": interval,
        "timeout": timeout,
        "damping": damping,
        "group": group,
        "headers": _headers(raw, key),
        "policy": _policy(raw, key),
        "history": history,
        "body_limit": _size(raw.get("body_limit", DEFAULT_BODY_LIMIT), f"{key}.body_limit"),
        "sample_limit": _limit(raw, "sample_limit", key, DEFAULT_SAMPLE_LIMIT),
        "series_limit": _limit(raw, "series_limit", key, DEFAULT_SERIES_LIMIT),
        "weight": weight,
        "maxconn": maxconn,
        **_tls(raw, key, base),
        **rules,
    }


def _tls(raw: dict[str, Any], key: str, base: Path | None) -> dict[str, Any]:
    """``ca_file`` (loaded now: an unreadable or empty bundle is refused at start, not at the
    first scrape) and ``insecure``."""
    insecure = raw.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ConfigError(f"{key}.insecure: true (skip certificate verification) or false, got {insecure!r}")
    if "ca_file" not in raw:
        return {"ca_file": "", "insecure": insecure}
    path = _path(raw["ca_file"], f"{key}.ca_file", base)
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is an OSError too
        why = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(f'{key}.ca_file: cannot load "{path}": {why}') from None
    return {"ca_file": path, "insecure": insecure}


def _rules(value: object, key: str, engine: Engine) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{key}: a list of PromQL conditions, e.g. ["up == 1"], got {value!r}')
    return tuple(_compile(text, f"{key}[{i}]", engine) for i, text in enumerate(value))


def _number_rule(raw: dict[str, Any], name: str, key: str, engine: Engine) -> Rule | None:
    if name not in raw:
        return None
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{key}.{name}: a PromQL expression (a string) or a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}.{name}: {value!r} is not a finite number")
    return _compile(value if isinstance(value, str) else repr(value), f"{key}.{name}", engine)


def _compile(text: object, key: str, engine: Engine) -> Rule:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{key}: a PromQL expression (a non-empty string), got {text!r}")
    try:
        return Rule(key=key, text=text, expr=engine.compile(text))
    except EngineError as exc:
        raise ConfigError(f'{key}: invalid PromQL "{text}": {exc}') from exc


def _policy(raw: dict[str, Any], key: str) -> Policy:
    counts = {name: _count(raw, name, key) for name in ("rise", "fall")}
    live_fall = _count(raw, "live_fall", key) if "live_fall" in raw else counts["fall"]
    overloaded = raw.get("overloaded", Overloaded.WARN.value)
    if overloaded not in {o.value for o in Overloaded}:
        raise ConfigError(
            f'{key}.overloaded: "warn" (still ready, degraded) or "fail" (not ready until the load passes), '
            f"got {overloaded!r}"
        )
    return Policy(rise=counts["rise"], fall=counts["fall"], live_fall=live_fall, overloaded=Overloaded(overloaded))


def _count(raw: dict[str, Any], name: str, key: str) -> int:
    value = raw.get(name, {"rise": 2, "fall": 3}.get(name, 3))
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ConfigError(f"{key}.{name}: a whole number from 1 to 1000, got {value!r}")
    return value


def _headers(raw: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    headers = raw.get("headers", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{key}.headers: a table of name = value, got {headers!r}")
    out = []
    for name, value in headers.items():
        # Values are never quoted in an error: they are where API keys go.
        if not isinstance(value, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ConfigError(f"{key}.headers.{name}: an HTTP header name = a one-line string")
        try:
            check_header(name, value)
        except RequestError as exc:
            raise ConfigError(f"{key}.headers.{name}: {exc.message}") from None
        out.append((name, value))
    if "token" in raw:
        token = raw["token"]
        if not isinstance(token, str) or not token or not token.isprintable() or any(c.isspace() for c in token):
            raise ConfigError(f"{key}.token: a bearer token (printable, without spaces; the value is not shown)")
        if not token.isascii():
            raise ConfigError(f"{key}.token: a bearer token is ASCII text (the value is not shown)")
        if any(n.lower() == "authorization" for n, _ in out):
            raise ConfigError(f"{key}.token: give either token or an Authorization header, not both")
        out.append(("Authorization", f"Bearer {token}"))
    return tuple(out)


def _limit(raw: dict[str, Any], name: str, key: str, default: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SERIES_CAP:
        raise ConfigError(f"{key}.{name}: a whole number from 1 to {MAX_SERIES_CAP}, got {value!r}")
    return value


def _duration(raw: dict[str, Any], name: str, key: str, default: float, *, minimum: float) -> float:
    if name not in raw:
        return default
    seconds = parse_duration(raw[name], f"{key}.{name}")
    if seconds < minimum or (minimum > 0 and seconds == 0):
        raise ConfigError(f'{key}.{name}: "{raw[name]}" is too short')
    return seconds


def _size(value: object, key: str) -> int:
    size = value if isinstance(value, int) and not isinstance(value, bool) else 0
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size <= 0:
        raise ConfigError(f'{key}: a size in bytes, or a string such as "16MiB", got {value!r}')
    if size > MAX_BODY_LIMIT:
        raise ConfigError(f"{key}: {value!r} is over the parser's page limit of 32MiB")
    return size


def _url(value: object, key: str) -> str:
    """An absolute http(s) URL, parsed by the scrape client's own rules (healthgauge.http._url)."""
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ConfigError(f'{key}: an http:// or https:// URL, got "{value}"')
    try:
        parse_url(value)
    except RequestError as exc:
        raise ConfigError(f"{key}: {exc.message}") from None
    return value


def _path(value: object, key: str, base: Path | None) -> str:
    """A file path; a relative one is taken from ``base``."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ConfigError(f"{key}: a file path (a non-empty string), got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def _admin_token(raw: dict[str, Any], key: str, base: Path | None) -> str:
    path = _path(raw["admin_token_file"], f"{key}.admin_token_file", base)
    try:
        token = read_token_file(path)
    except ValueError as exc:
        raise ConfigError(f"{key}.admin_token_file: {exc}") from None
    return token


def read_token_file(path: str) -> str:
    """A bearer token from a file: one line, stripped; ValueError saying what is wrong with it,
    never what it holds."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f'cannot read "{path}": {getattr(exc, "strerror", None) or exc}') from None
    token, _, rest = text.strip().partition("\n")
    token = token.strip()
    if not token:
        raise ValueError(f'"{path}" is empty')
    if rest.strip():
        raise ValueError(f'"{path}" holds more than one line (the token is not shown)')
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError(f'"{path}" holds spaces, control or non-ASCII characters (the token is not shown)')
    return token


def _state_file(value: object, key: str, base: Path | None) -> str:
    """A file the agent may replace, not a directory (its directory may be made later, e.g. by
    systemd's StateDirectory: a start that cannot write it exits 2)."""
    path = Path(_path(value, key, base))
    if path.is_dir():
        raise ConfigError(f'{key}: "{path}" is a directory; name a file in it, e.g. "{path / "state.json"}"')
    return str(path)


def _name(value: object, key: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(
            f"{key}: a target name is letters, digits, '_', '.' or '-' (it appears in URLs and "
            f"HAProxy's agent-send), got {value!r}"
        )
    return value


def _unique(targets: list[TargetConfig]) -> None:
    seen: set[str] = set()
    for target in targets:
        if target.name in seen:
            raise ConfigError(f'targets: the name "{target.name}" is used twice')
        seen.add(target.name)


def _table(doc: dict[str, Any], name: str, prefix: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}{name}: must be a table ([{name}]), got {value!r}")
    return value


def _known(raw: Mapping[str, object], known: tuple[str, ...], prefix: str) -> None:
    for name in raw:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(known)})"
            raise ConfigError(f'{prefix}{name}: unknown key "{name}"{hint}')

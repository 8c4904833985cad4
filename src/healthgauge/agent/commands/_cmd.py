"""``healthgauge agent --config FILE``: run the agent until SIGTERM or SIGINT, then drain and exit 0.

Exit codes: 0 stopped after the drain (or ``--check`` found the configuration valid);
2 the agent could not run (a listener could not bind, the state file cannot be written);
3 the command line or the configuration is wrong (refused before any network I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from healthgauge._args import CommandParser
from healthgauge.agent._config import Config, ConfigError, load_config
from healthgauge.agent._gcpace import pace_gc
from healthgauge.agent._logs import FORMATS, LEVELS, configure
from healthgauge.agent._run import Agent
from healthgauge.agent.judge._engine import Engine
from healthgauge.agent.judge._promql_engine import promql_engine
from healthgauge.agent.judge._secrets import redact, secrets_of
from healthgauge.agent.servers._resources import raise_open_files
from healthgauge.agent.state._statecodec import StateFileError
from healthgauge.health._status import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

EXIT_CODES = {
    EXIT_OK: "stopped after the drain (or --check passed)",
    EXIT_FAILED: "a listener could not bind, the state_file cannot be written, or another start-up or run-time failure",
    EXIT_USAGE: (
        "the command line or the configuration is wrong (refused before any network I/O; "
        "whatever the agent would refuse at start, --check refuses)"
    ),
}

log = logging.getLogger("healthgauge.agent")

#: Seconds between forced GIL hand-offs (sys.setswitchinterval), see main().
SWITCH_INTERVAL = 0.001


def production_engine() -> Engine:
    """The real parser and evaluator (imported here: they are the agent's heaviest imports)."""
    return promql_engine()


def main(args: list[str], *, engine_factory: Callable[[], Engine] = production_engine) -> int:
    options = _parse(args)
    if isinstance(options, int):
        return options
    path, check, level, fmt = options
    try:
        engine = engine_factory()
        config = load_config(path, engine)
    except ConfigError as exc:
        print(f"healthgauge agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # e.g. the engine's own imports: one line, not a traceback
        print(f"healthgauge agent: cannot load {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if check:
        print(f"{path}: {len(config.targets)} target(s), configuration valid")
        return EXIT_OK
    configure(level, fmt)
    raise_open_files()
    # Worker threads parse and evaluate big pages; the loop waits at most this long for the GIL
    # when it wants it back (CPython's default is 5 ms, which a probe would feel).
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        return asyncio.run(run(config, engine, loader=lambda: load_config(path, engine)))
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place: no traceback
        return EXIT_INTERRUPTED
    except Exception as exc:  # a fault while running: one line and exit 2, not a traceback
        print(f"healthgauge agent: stopped by an internal error: {_one_line(exc, config)}", file=sys.stderr)
        return EXIT_FAILED


def _one_line(exc: BaseException, config: Config) -> str:
    """``exc`` as one line, with every configured header value and token redacted."""
    text = " ".join((str(exc) or type(exc).__name__).split())
    secrets = secrets_of(header for target in config.targets for header in target.headers)
    return redact(text, secrets)


async def run(
    config: Config,
    engine: Engine,
    *,
    announce: Callable[[str], None] | None = None,
    loader: Callable[[], Config] | None = None,
) -> int:
    """Serve until a signal, drain for the grace period, stop. A second signal cuts the drain;
    SIGHUP reloads the configuration through ``loader``."""
    loop = asyncio.get_running_loop()
    stop, hurry, started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    reloads: set[asyncio.Task[object]] = set()
    agent = Agent(config, engine, loader=loader)

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    def on_hup() -> None:
        if not started.is_set() or stop.is_set():
            log.warning("SIGHUP ignored: the agent is %s", "stopping" if stop.is_set() else "starting")
            return
        log.info("SIGHUP: reloading the configuration")
        task: asyncio.Task[object] = asyncio.create_task(_reload(agent), name="reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        try:
            await agent.start()
        except OSError as exc:
            print(f"healthgauge agent: cannot listen: {exc}", file=sys.stderr)
            await agent.stop()
            return EXIT_FAILED
        except StateFileError as exc:
            print(f"healthgauge agent: cannot start: {exc}", file=sys.stderr)
            await agent.stop()
            return EXIT_FAILED
        except Exception as exc:  # every start-up failure is one line, never a traceback
            print(f"healthgauge agent: cannot start: {_one_line(exc, config)}", file=sys.stderr)
            await agent.stop()
            return EXIT_FAILED
        pacer = asyncio.create_task(pace_gc(), name="gc pacing")
        try:
            for key, address in agent.addresses.items():
                (announce or _print)(f"listening {key} {address}")
            started.set()
            await stop.wait()
            await agent.drain(cut_short=hurry)
        finally:
            pacer.cancel()
            await agent.stop()
        log.info("stopped")
        return EXIT_OK
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


async def _reload(agent: Agent) -> object:
    """One reload; its outcome is logged and shown in the metrics (nothing more to do here)."""
    try:
        return await agent.reload_from_source()
    except ConfigError:
        return None


def _print(line: str) -> None:
    print(line, flush=True)


def _parser() -> CommandParser:
    p = CommandParser(
        "healthgauge agent",
        usage="healthgauge agent --config FILE [--check] [--log-level LEVEL] [--log-format text|json]",
        description=(
            "Run the health agent until SIGTERM or SIGINT, then drain and exit 0.\n\n"
            'On start it prints one line per listener to stdout: "listening KEY ADDRESS".\n'
            "SIGHUP (or `healthgauge ctl reload`): read FILE again; if it is invalid, keep running the old one.\n"
            "SIGTERM or SIGINT: every target reports draining for shutdown_grace, then the agent exits 0."
        ),
        exit_codes=EXIT_CODES,
    )
    p.add_argument("--config", metavar="FILE", help='the agent\'s TOML configuration (see README, "healthgauge agent")')
    p.add_argument(
        "--check", action="store_true", help="validate the configuration (and compile every rule), then exit 0 or 3"
    )
    p.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=_choice("level", LEVELS),
        default="info",
        help="debug, info (default), warning or error; logs go to stderr",
    )
    p.add_argument(
        "--log-format",
        metavar="FORMAT",
        type=_choice("format", FORMATS),
        default="text",
        help="text (default) or json: one JSON object a line, for log pipelines",
    )
    return p


def _choice(what: str, known: tuple[str, ...]) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text.lower() not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r} (use {', '.join(known)})")
        return text.lower()

    return check


def _parse(args: list[str]) -> tuple[str, bool, str, str] | int:
    parser = _parser()
    options = parser.parse(args)
    if isinstance(options, int):
        return options
    if not options.config:
        return parser.usage_error("--config FILE is required")
    return options.config, options.check, options.log_level, options.log_format

"""``healthgauge demo``: two demo workers and the agent on loopback, watched live (``make demo``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from aiohttp import web

from healthgauge.agent import Agent, TargetState, parse_config
from healthgauge.demo._view import CLEAR, Header, Story, frame
from healthgauge.demo._worker import CONFIG, DemoWorker, serve_worker
from healthgauge.health._status import EXIT_OK, EXIT_USAGE

REDRAW_SECONDS = 0.5

DESCRIPTION = """\
Start two demo workers (real HTTP servers exposing a progress timestamp, a jobs counter and a
queue depth) and the agent on loopback ports, then watch the agent judge them. Each worker is
healthy, gets busy, gets stuck and recovers, on its own 40 s cycle; the screen shows the rules,
each worker's verdict and what HAProxy, Kubernetes, Envoy, Consul and gRPC are told, and the
story of what happens, as it happens. It also prints the status page's URL and `ctl` commands
to drain a worker from another terminal."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="healthgauge demo",
        description=DESCRIPTION,
        epilog="Ctrl-C stops everything. Exit codes: 0 stopped, 3 bad command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--duration", type=_seconds, metavar="SECONDS", help="stop after this many seconds (default: run until Ctrl-C)"
    )
    p.add_argument(
        "--view",
        choices=("auto", "live", "log"),
        default="auto",
        help="live: redraw the screen in place; log: one line per event; auto (default): live on a terminal",
    )
    return p


def ctl_command() -> str:
    """``healthgauge ctl`` as it can be typed here: the venv's own command by its full path (it
    need not be on PATH), else this interpreter running the package."""
    beside = Path(sys.executable).parent / "healthgauge"
    if beside.is_file() and os.access(beside, os.X_OK):
        return f"{shlex.quote(str(beside.absolute()))} ctl"
    return f"{shlex.quote(sys.executable)} -m healthgauge ctl"


async def run(duration: float | None, *, live: bool, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    # The story shows every change of level; the agent's own log lines would scroll over it.
    quiet = logging.getLogger("healthgauge")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    start = time.monotonic()
    workers = {"worker-a": DemoWorker(start), "worker-b": DemoWorker(start - 14.0)}
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    for name, worker in workers.items():
        runner, urls[name] = await serve_worker(worker)
        runners.append(runner)
    config = parse_config(CONFIG.format(urls=", ".join(f'"{n}" = "{u}"' for n, u in urls.items())))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Agent(config) as agent:
            await _watch(agent, workers, stream, stop, duration, live=live, start=start)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for runner in runners:
            await runner.cleanup()
    return EXIT_OK


async def _watch(
    agent: Agent,
    workers: dict[str, DemoWorker],
    stream: TextIO,
    stop: asyncio.Event,
    duration: float | None,
    *,
    live: bool,
    start: float,
) -> None:
    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    loop = asyncio.get_running_loop()
    header = Header(
        status_url=f"http://{agent.addresses['http']}/status",
        ctl=ctl_command(),
        admin=agent.addresses["admin"],
        first_target="worker-a",
    )
    story = Story()
    phases: dict[str, str] = {}

    def on_change(old: TargetState, new: TargetState) -> None:
        if old.level is not new.level and not new.shutting_down:
            line = story.change(time.monotonic() - start, old, new)
            if not live:
                write(line + "\n")

    if not live:
        write("\n".join(header.lines()) + "\n\n")
    agent.hub.subscribe(on_change)
    end = None if duration is None else loop.time() + duration
    while not stop.is_set() and (end is None or loop.time() < end):
        now = time.monotonic()
        for name, worker in workers.items():
            phase = worker.phase(now)
            if phases.get(name) != phase:
                phases[name] = phase
                line = story.phase(now - start, name, phase)
                if not live:
                    write(line + "\n")
        if live:
            write(CLEAR + frame(header, agent.config.targets[0], agent.hub.states(), phases, story, at=now - start))
        wait = REDRAW_SECONDS if end is None else max(0.0, min(REDRAW_SECONDS, end - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    write("\nstopping\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a number of seconds above 0, got {text!r}")
    return value


def main(args: list[str]) -> int:
    p = parser()
    try:
        options = p.parse_args(args)
    except SystemExit as exc:  # argparse exits 2 on a bad command line; ours is 3
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    live = options.view == "live" or (options.view == "auto" and sys.stdout.isatty())
    try:
        return asyncio.run(run(options.duration, live=live))
    except KeyboardInterrupt:
        return EXIT_OK

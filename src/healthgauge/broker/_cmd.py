"""``healthgauge broker --config broker.toml``: run the request broker.

Exit codes: 0 stopped by SIGTERM/SIGINT after draining (or ``--check`` found the config valid);
2 a runtime failure (a listener could not bind); 3 the command line or the configuration is wrong
(the message names the key).

On start it prints one line per listener: ``listening KEY HOST:PORT`` (``proxy``, ``admin``,
``agent_check``), as the agent does. SIGTERM drains (stop taking requests, hand queued ones back
with 503 + Retry-After, wait for in-flight ones up to ``drain_grace``); SIGHUP reloads the
configuration and keeps the queues (a bad one is logged and the running one kept).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from healthgauge.broker._config import BrokerConfig, ConfigError, load_config

__all__ = ["main"]

EXIT_RUNTIME = 2
EXIT_CONFIG = 3

log = logging.getLogger("healthgauge.broker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="healthgauge broker", description="Run the Spillway-style request broker.")
    p.add_argument("--config", required=True, help="the broker's TOML configuration")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit (0 valid, 3 not)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else EXIT_CONFIG
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"healthgauge broker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        print(f"{args.config}: ok ({len(config.workers)} workers, {len(config.rules)} rules)")
        return 0
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the bench and test extras install it
        return asyncio.run(serve(config, args.config))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(config, args.config))


async def serve(config: BrokerConfig, path: str) -> int:
    from healthgauge.broker._agents import poll_agents, responder
    from healthgauge.broker._service import BrokerService

    loop = asyncio.get_running_loop()
    service = BrokerService(config, loop=loop)
    try:
        bound = await service.start()
        agent = await responder(service) if config.agent_check is not None else None
    except OSError as exc:
        print(f"healthgauge broker: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        await service.close()
        return EXIT_RUNTIME
    if agent is not None and config.agent_check is not None:
        bound["agent_check"] = (config.agent_check[0], agent.port)
    for key, (host, port) in bound.items():
        print(f"listening {key} {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(service, path))
    poller = loop.create_task(poll_agents(service))
    try:
        await stop.wait()
        log.info("draining: %d queued, %d in flight", service.core.queued(), len(service.inflight))
        await service.drain(service.config.drain_grace)
    finally:
        poller.cancel()
        if agent is not None:
            await agent.close()
        await service.close()
    return 0


def _reload(service: object, path: str) -> None:
    from healthgauge.broker._service import BrokerService

    assert isinstance(service, BrokerService)
    try:
        service.reload(load_config(path))
    except ConfigError as exc:
        log.error("reload refused, the running configuration stays: %s", exc)

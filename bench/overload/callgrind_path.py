"""Instructions per request of the middleware's request path, without sockets, under callgrind.

    nice python bench/overload/callgrind_path.py [--stacks httptools aiohttp] [--before main]

Runs ``fake_server.py``'s driver (the server's own protocol objects, an in-memory transport, 50
connections) under ``valgrind --tool=callgrind`` twice per variant, for two numbers of requests,
and prints the difference divided by the difference in requests: the instructions one more
request costs, start-up and imports cancelled out. Instruction counts are repeatable (no lock
needed, unlike timings on a shared host), so a few hundred instructions show. The guards run
without the loop probe (``loop_lag=False``: no metering, no probe timer, which would fire by
valgrind's slowed wall clock) and with no registry: the per-request path alone.

Variants: ``bare`` (the app alone), ``layer`` (one no-op middleware), ``after`` (this tree's
``OverloadMiddleware`` / ``setup_aiohttp``), ``before`` (the same from ``--before``, a git
revision: its ``src/`` first on ``PYTHONPATH``).

    python bench/overload/callgrind_path.py --run STACK VARIANT ITERATIONS   # one run (in valgrind)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
LENGTHS = (20, 80)  # loop iterations of 50 requests each: the difference is 3,000 requests
CONNECTIONS = 50


def _app(stack: str, variant: str) -> Any:
    from middleware_overhead import _aiohttp_app, _asgi_app, _layer

    if stack == "aiohttp":
        if variant in ("bare", "layer"):
            return _aiohttp_app(variant)

        from healthgauge.overload import setup_aiohttp

        app = _aiohttp_app("bare")
        setup_aiohttp(app, handle_sigterm=False, registry=False, loop_lag=False)
        return app
    app = _asgi_app()
    if variant == "bare":
        return app
    if variant == "layer":
        return _layer(app)
    from healthgauge.overload import OverloadMiddleware

    return OverloadMiddleware(app, handle_sigterm=False, registry=False, loop_lag=False)


def run_one(stack: str, variant: str, iterations: int) -> None:
    """Serve ``iterations`` rounds of one request per connection, checking every answer is a 200."""
    from fake_server import _aiohttp_connections, _drive, _uvicorn_connections

    async def main() -> None:
        app = _app(stack, variant)
        if stack == "aiohttp":
            pairs = await _aiohttp_connections(app, CONNECTIONS)
            # The guard starts with the app's startup (setup_aiohttp); the runner has run it.
        else:
            pairs = await _uvicorn_connections(stack, app, CONNECTIONS)
            guard = getattr(app, "guard", None)
            if guard is not None:  # no lifespan here: started as a lifespan would
                await app._startup()
        n = await _drive(pairs, iterations)
        statuses = {s for _, t in pairs for s in t.statuses}
        if n != iterations * CONNECTIONS or statuses != {b"200"}:
            raise RuntimeError(f"{stack}/{variant}: {n} answers, statuses {statuses}")

    if stack == "httptools":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def instructions(stack: str, variant: str, iterations: int, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory(prefix="hg-cg-") as tmp:
        out = Path(tmp) / "cg.out"
        argv = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            PY,
            str(Path(__file__).resolve()),
            "--run",
            stack,
            variant,
            str(iterations),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=HERE, timeout=1800)
        if proc.returncode:
            raise RuntimeError(f"{stack}/{variant}: {proc.stderr[-2000:]}")
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if match is None:
            raise RuntimeError(f"{stack}/{variant}: no instruction count in {proc.stderr[-500:]}")
        return int(match.group(1))


def per_request(stack: str, variant: str, env: dict[str, str]) -> float:
    """The two lengths run at once (two valgrind processes: the counts do not depend on timing)."""
    env = {**env, "PYTHONHASHSEED": "0"}  # set and dict layouts (and so their probes) the same every run
    with ThreadPoolExecutor(2) as pool:
        short, long = pool.map(lambda n: instructions(stack, variant, n, env), LENGTHS)
    return (long - short) / ((LENGTHS[1] - LENGTHS[0]) * CONNECTIONS)


def unpack(rev: str, into: Path) -> Path:
    from middleware_overhead import unpack as unpack_src

    return unpack_src(rev, into)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", nargs=3, metavar=("STACK", "VARIANT", "ITERATIONS"), help=argparse.SUPPRESS)
    p.add_argument("--stacks", nargs="+", default=["httptools"], choices=("httptools", "h11", "aiohttp"))
    p.add_argument("--variants", nargs="+", default=["bare", "layer", "before", "after"])
    p.add_argument("--before", default="main", help="git revision of the 'before' middleware (default main)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE))
    if args.run:
        run_one(args.run[0], args.run[1], int(args.run[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        before_src = unpack(args.before, Path(tmp)) if "before" in args.variants else None
        for stack in args.stacks:
            figures: dict[str, float] = {}
            for variant in args.variants:
                env = dict(os.environ)
                if variant == "before":
                    assert before_src is not None
                    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(before_src), env.get("PYTHONPATH", "")) if p)
                run_as = "after" if variant == "before" else variant
                figures[variant] = per_request(stack, run_as, env)
                print(f"{stack:<10}{variant:<8}{figures[variant]:>10,.0f} instructions/request", flush=True)
            bare = figures.get("bare")
            if bare:
                for variant, value in figures.items():
                    print(f"{stack:<10}{variant:<8}{value - bare:>+10,.0f} ({100 * (value - bare) / bare:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

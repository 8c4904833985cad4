"""Big pages parsed in child processes, so that no parse holds the agent's GIL.

A worker thread parsing a big page holds the GIL: the event loop waits for it at every system call
(up to the switch interval, 1 ms in the agent) and, on a busy machine, for as long as the kernel
leaves the parsing thread without a core while it holds the lock. In ``bench/soak.py`` that was
most of the good probes' p99 beside a target serving 30,000 series. A child process parses with its
own interpreter and lock; only the page (bytes) and the samples travel, pickled.

The pool starts on the first big page, in the background (a child imports the agent's parser in
~0.3-0.5 s): until it is up, big pages are parsed in a worker thread as before, so no scrape
waits for it. An engine opts in with a ``child_parse`` attribute: a module-level function (so it
pickles by name) of ``(body, content_type, names, limit)`` returning :data:`Parsed`, from a module
light to import (the production engine's imports only the exposition parser: a child holds
~13 MiB and its page, against ~41 MiB for the agent's modules); any other engine's pages stay in
threads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import sys
import threading
from collections.abc import Collection, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from healthgauge.agent.judge._engine import Engine

#: Child processes: two, so that one target's long parse (a page near the 16 MiB cap, cut by its
#: own ``sample_limit``) does not queue every other big page behind it; each holds the parser
#: (~40 MB), and the agent starts none until a page needs one.
CHILDREN = 2

#: What a child sends back: the samples (``None`` when the page was refused), the refusal's words,
#: the number of repeated samples dropped, and the CPU seconds the parse took (the target's budget).
Parsed = tuple[Any, str, int, float]


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """spawn runs the parent's main script again in each child, as ``__mp_main__``, when it has a
    file: the ``healthgauge`` launcher runs the command line when it is run, so each child would
    import the whole agent (~48 MiB instead of ~13). Its file is hidden while the children start."""
    main = sys.modules["__main__"]
    path = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


class ChildParsers:
    """A pool of :data:`CHILDREN` processes, started on first use and ready once a child answered;
    held by each running agent (:meth:`hold`) and stopped when the last one lets go."""

    def __init__(self, children: int = CHILDREN) -> None:
        self.children = children
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._holders = 0

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        """An agent stopped: the last one stops the children (blocking: call it in a thread)."""
        with self._lock:
            self._holders -= 1
            last = self._holders <= 0
        if last:
            self.shutdown()

    def usable(self, engine: Engine) -> bool:
        """Whether a page of ``engine``'s may go to a child now; the first call starts the pool."""
        if getattr(engine, "child_parse", None) is None:
            return False
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._start()
        return self._ready

    def submit(
        self,
        engine: Engine,
        body: bytes | bytearray,
        content_type: str | None,
        names: Collection[str] | None,
        limit: int,
    ) -> concurrent.futures.Future[Parsed]:
        """The parse's future; a pool whose child died is replaced for the next page (this one
        fails with the reason)."""
        pool = self._pool
        assert pool is not None
        try:
            job = pool.submit(engine.child_parse, body, content_type, names, limit)  # type: ignore[attr-defined]
        except BrokenProcessPool:
            self.discard(pool)
            raise

        def check(done: concurrent.futures.Future[Parsed]) -> None:
            if not done.cancelled() and isinstance(done.exception(), BrokenProcessPool):
                self.discard(pool)

        job.add_done_callback(check)
        return job

    def discard(self, pool: concurrent.futures.Executor) -> None:
        """Forget a broken pool (a child died): the next big page starts a new one."""
        with self._lock:
            if self._pool is not pool:
                return
            self._pool, self._ready = None, False
        pool.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> None:
        # spawn, not fork: the agent has threads (a forked child could inherit a held lock). The
        # children are all started here, by the warm-up calls (a builtin: they import nothing).
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.children, mp_context=multiprocessing.get_context("spawn")
        )
        with _main_not_rerun():
            warm = [self._pool.submit(int) for _ in range(self.children)]
        pool = self._pool

        def up(_: object) -> None:
            if self._pool is pool and all(w.done() and not w.exception() for w in warm):
                self._ready = True

        for future in warm:
            future.add_done_callback(up)

    def shutdown(self) -> None:
        """Stop the children (the agent stops); a later page starts a new pool."""
        with self._lock:
            pool, self._pool, self._ready = self._pool, None, False
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

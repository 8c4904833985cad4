"""The state file's I/O: read at start, moved aside when corrupt, and kept in step with the hub by
one writer task whose encoding and atomic writes run in a worker thread. What the file holds and what
is restored from it is decided by the pure codec, :mod:`healthgauge.agent.state._statecodec`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from healthgauge.agent.state._hub import StateHub
from healthgauge.agent.state._statecodec import MAX_BYTES, SavedFile, StateFileError, decode, encode, persisted
from healthgauge.health._state import TargetState

log = logging.getLogger("healthgauge.agent")
#: Least time between two rewrites for judged-state changes, in seconds. A thousand targets whose
#: weights move every scrape would otherwise rewrite a file of some hundred KiB many times a
#: second; a second's lag costs at most one interval of staleness after a restart, which the next
#: scrape corrects. Admin changes do not wait for it.
MIN_GAP = 1.0
#: While nothing changes, the file's modification time is touched this often (seconds): a metadata
#: update, not a rewrite, so an idle agent does not wear the disk. It must stay well inside the
#: shortest ``fall × interval`` for a restart to find the file fresh.
HEARTBEAT = 0.5

# -- I/O: read at start, write atomically --------------------------------------------------------


def read(path: Path) -> SavedFile | None:
    """The file at ``path``, ``None`` when there is none; :class:`StateFileError` naming the file
    when it cannot be read or is not a state file."""
    try:
        with path.open("rb") as f:
            modified_at = os.fstat(f.fileno()).st_mtime
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise StateFileError(f"{path}: over {MAX_BYTES} bytes: not a state file")
    try:
        return decode(data, modified_at=modified_at)
    except StateFileError as exc:
        raise StateFileError(f"{path}: {exc}") from None
    except Exception as exc:  # whatever a hostile file trips in decoding: refused, never a crash
        raise StateFileError(f"{path}: not a state file ({type(exc).__name__})") from None


def move_aside(path: Path) -> Path | None:
    """Keep an unreadable file as ``<path>.corrupt`` (replacing an older one) before it is
    overwritten: what it held stays there for a person to look at. ``None`` if it cannot."""
    aside = path.with_name(path.name + ".corrupt")
    if not path.is_file() or path.is_symlink():
        return None  # a directory (or a link to one) is not ours to move: the write will say so
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader (or a crash) sees the old file or the new one,
    never half of one: write a temporary file beside it, fsync, rename, fsync the directory."""
    # A name of its own per write (mode 0600): a write still running in a worker thread when the
    # agent stops must not share its temporary file with the last one.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # a directory that cannot be opened or synced: the rename stands
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def touch(path: Path) -> None:
    """Mark the file's states as still current (the heartbeat): its modification time only."""
    os.utime(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateFileStatistics:
    writes: int
    touches: int
    errors: int
    last_error: str


class StateFile:
    """Keeps ``path`` in step with the hub: rewrites on admin and judged-state changes, touches
    it while nothing changes. One writer task; encoding and writing happen in a worker thread, so a
    slow disk never stalls the event loop that answers probes."""

    def __init__(
        self,
        path: Path,
        hub: StateHub,
        fingerprints: Mapping[str, str],
        *,
        wall: Callable[[], float] = time.time,
        min_gap: float = MIN_GAP,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.path = path
        self._hub = hub
        self._fingerprints = dict(fingerprints)
        self._wall = wall
        self._min_gap = min_gap
        self._heartbeat = heartbeat
        self._wanted = 0  # changes asked for (a generation number)
        self._written = 0  # the generation on disk
        self._failed_upto = 0  # the generation of the last failed write
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._counts = {"writes": 0, "touches": 0, "errors": 0}
        self._last_error = ""

    def write_now(self) -> None:
        """Write the current states synchronously (at start: a path that cannot be written is a
        deployment error found before serving). Raises OSError."""
        self._save(self._hub.states(), self._wall())
        self._counts["writes"] += 1

    def retarget(self, fingerprints: Mapping[str, str]) -> None:
        """The targets after a reload (their fingerprints); written at once."""
        self._fingerprints = dict(fingerprints)
        self._wanted += 1
        self._urgent.set()
        self._wake.set()

    def start(self) -> None:
        self._unsubscribe = self._hub.subscribe(self._on_change)
        self._task = asyncio.create_task(self._run(), name="state file")

    async def flush(self) -> None:
        """Write at once (not after :data:`MIN_GAP`); return when the file holds the current
        states, or raise OSError saying why it could not be written."""
        self._wanted += 1
        wanted = self._wanted
        self._urgent.set()
        self._wake.set()
        while self._written < wanted:
            if self._failed_upto >= wanted:
                raise OSError(self._last_error)
            if self._task is None or self._task.done():
                raise OSError("the state file writer is not running")
            self._done.clear()
            await self._done.wait()

    async def close(self) -> None:
        """Stop, after one last write of the current states."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self._inflight is not None:
                await asyncio.wait([self._inflight])
            await self._write()

    def statistics(self) -> StateFileStatistics:
        return StateFileStatistics(**self._counts, last_error=self._last_error)

    def _on_change(self, old: TargetState, new: TargetState) -> None:
        if persisted(old) != persisted(new):
            self._wanted += 1
            # The operator's word, and a target going in or out of service, are written at once
            # (a restart must not bring back a ready that was just lost); numbers and reasons that
            # move with every scrape wait for MIN_GAP.
            if old.admin is not new.admin or old.ready != new.ready or old.live != new.live:
                self._urgent.set()
            self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = -math.inf
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._heartbeat)
            self._wake.clear()
            if self._written >= self._wanted:
                await self._touch()
                continue
            delay = last + self._min_gap - loop.time()
            if delay > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), delay)
            self._urgent.clear()
            last = loop.time()
            await self._write()

    def _save(self, states: tuple[TargetState, ...], now: float) -> None:
        write_atomic(self.path, encode(states, self._fingerprints, now))

    async def _write(self) -> None:
        wanted = self._wanted
        # hub.states() is an immutable snapshot: safe to encode in the worker thread. Shielded, so
        # close() can let a write in flight finish before the last one (never the other way round).
        self._inflight = asyncio.ensure_future(asyncio.to_thread(self._save, self._hub.states(), self._wall()))
        try:
            await asyncio.shield(self._inflight)
        except OSError as exc:
            self._failed_upto = wanted
            self._failed(f"cannot write state_file {self.path}: {exc.strerror or exc}")
        else:
            self._counts["writes"] += 1
            self._written = max(self._written, wanted)
            self._last_error = ""
        self._done.set()

    async def _touch(self) -> None:
        try:
            await asyncio.to_thread(touch, self.path)
        except OSError as exc:
            # Removed by someone, or unwritable now: a full write puts it back or says why.
            self._failed(f"cannot touch state_file {self.path}: {exc.strerror or exc}")
            self._wanted += 1
        else:
            self._counts["touches"] += 1

    def _failed(self, message: str) -> None:
        self._counts["errors"] += 1
        if message != self._last_error:
            log.error("%s", message)
        self._last_error = message

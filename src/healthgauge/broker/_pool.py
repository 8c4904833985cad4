"""Idle keep-alive connections to the workers, reused by the next offer to the same worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthgauge.broker._proxy import WorkerConnection

__all__ = ["IdlePool"]

# Idle keep-alive connections kept per worker; more are closed when they come back.
MAX_IDLE = 32


class IdlePool:
    """Each known worker's idle connections; a worker a reload removed has none kept."""

    def __init__(self) -> None:
        self._idle: dict[object, list[WorkerConnection]] = {}

    def add_worker(self, worker: object) -> None:
        self._idle.setdefault(worker, [])

    def remove_worker(self, worker: object) -> None:
        for conn in self._idle.pop(worker, []):
            conn.close()

    def take(self, worker: object) -> WorkerConnection | None:
        """An open idle connection to ``worker``, or None."""
        pool = self._idle.get(worker)
        while pool:
            conn = pool.pop()
            if not conn.closed:
                return conn
        return None

    def put(self, conn: WorkerConnection, *, keep: bool = True) -> None:
        """Keep ``conn`` for the next offer, or close it (not ``keep``, closed, unknown worker, full)."""
        pool = self._idle.get(conn.worker)
        if pool is None or conn.closed or len(pool) >= MAX_IDLE or not keep:
            conn.close()
        else:
            pool.append(conn)

    def discard(self, conn: WorkerConnection) -> None:
        pool = self._idle.get(conn.worker)
        if pool is not None and conn in pool:
            pool.remove(conn)

    def close(self) -> None:
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
            pool.clear()

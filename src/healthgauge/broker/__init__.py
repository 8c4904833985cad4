"""A Spillway-style broker (spec §7): offer each request to up to three workers in turn, queue it
by class when all refuse, and let free workers pull. Pure scheduling core; asyncio adapter."""

from healthgauge.broker._registry import Registry, WorkerReport, WorkerView, rendezvous_order

__all__ = ["Registry", "WorkerReport", "WorkerView", "rendezvous_order"]

"""``healthgauge demo`` (``make demo``): two demo workers and the agent on loopback, watched live.

The workers and the story they tell are in ``_worker.py``, the screen in ``_view.py`` (pure), the
command in ``_cmd.py``.
"""

from healthgauge.demo._worker import BUSY_UNTIL, CYCLE, HEALTHY_UNTIL, STUCK_UNTIL, DemoWorker

__all__ = ["BUSY_UNTIL", "CYCLE", "HEALTHY_UNTIL", "STUCK_UNTIL", "DemoWorker"]

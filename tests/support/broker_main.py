"""``healthgauge broker`` as a script, for a child process started by tests and benchmarks
(``python tests/support/broker_main.py --config FILE``). With ``HG_BROKER_PROFILE=PATH`` it runs
under cProfile counting CPU time, not wall time (bench/broker: where the broker's CPU goes)."""

from __future__ import annotations

import os
import sys

from healthgauge.cli import main

if __name__ == "__main__":
    out = os.environ.get("HG_BROKER_PROFILE")
    if not out:
        sys.exit(main(["broker", *sys.argv[1:]]))
    import cProfile
    import time

    profile = cProfile.Profile(time.process_time)
    code = profile.runcall(main, ["broker", *sys.argv[1:]])
    profile.dump_stats(out)
    sys.exit(code)

"""The status vocabulary and the exit codes beside it: defined here once, for every command.

====  =========  ===========  ======  ==========================================================
code  status     check word   label   as a command's exit code
====  =========  ===========  ======  ==========================================================
0     ``PASS``   ``ok``       OK      done / every condition holds (``EXIT_OK``)
1     ``WARN``   ``warn``     WARN    a ``--warn`` condition holds (``check`` only)
2     ``FAIL``   ``fail``     FAIL    a condition fails, or the command could not do its work:
                                      a page, an agent or a port out of reach (``EXIT_FAILED``)
3     UNKNOWN    ``unknown``  UNKNOWN  the command line or the configuration is wrong, refused
                                      before any network I/O (``EXIT_USAGE``)
====  =========  ===========  ======  ==========================================================

The codes are Nagios's and Consul's script-check codes (0 passing, 1 warning, 2 critical,
3 unknown), which is why one table serves judgement and every command. A status has two spellings
on the wire, each fixed by its consumer: ``STATUS_NAMES`` for health+json (the IETF health-check
draft: ``pass``/``warn``/``fail``) and ``CHECK_NAMES`` for ``check --json``; ``LABELS`` start
``check``'s Nagios line.

`healthgauge check` loads this module on every run: it imports nothing and defines only constants
(DEVELOPERS.md, "The check path").
"""

PASS = 0
WARN = 1
FAIL = 2
UNKNOWN = 3

STATUS_NAMES = ("pass", "warn", "fail", "unknown")
CHECK_NAMES = ("ok", "warn", "fail", "unknown")
LABELS = ("OK", "WARN", "FAIL", "UNKNOWN")

EXIT_OK = PASS
EXIT_FAILED = FAIL
EXIT_USAGE = UNKNOWN
# A command ended by Ctrl-C (SIGINT) without a traceback, as a shell reports a program it killed.
EXIT_INTERRUPTED = 130

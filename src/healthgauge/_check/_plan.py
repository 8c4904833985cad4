"""Keeping a command line's plan: what the quick path derived from it, for the next run of the same
one (``_check.read_plan`` says why and the rules; this module is loaded only by a run that writes).

A plan is the tuple the quick path passes to ``_quick_net.ask`` (where to connect, the request,
the timeout, ``--verbose``, the compiled conditions and the names they read), marshalled, behind
the arguments, the stamps of ``PLAN_SOURCES`` and a checksum. A plan holding anything ``marshal``
does not keep (a regular expression's matcher) is not kept: such a command line takes the quick
path at every run, as without plans.
"""

import marshal

from .. import _check as package  # its SOURCE_DIR as it is when called (tests move it)
from . import PLAN_FORMAT, PLAN_SOURCES, checksum, plan_path
from .startup import ensure_dir, make_room, stamp, write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._quick_net import Ask


def store(args: "list[str]", plan: "Ask") -> None:
    """Write the plan of ``args`` (a run that cannot, or a plan that is not data, simply does not).

    It runs after the answer is written and before the process leaves with its exit code, so
    nothing here may raise: a plan not kept only means the next run takes the quick path again.
    """
    try:
        data = encode(args, plan)
        path = plan_path(args)
        directory = path.rpartition("/")[0]
        if data is not None and ensure_dir(directory):
            make_room(directory, "check-plan.")
            write_atomically(path, data, private=True)  # the command line: its owner's only
    except Exception:  # arguments no file can be named after, a cache gone mid-write
        pass


def encode(args: "list[str]", plan: "Ask") -> "bytes | None":
    """The plan file's bytes (``_check.decode_plan`` reads them), or None: a plan holding a regular
    expression's matcher, or a source without a stamp."""
    try:
        payload = marshal.dumps(plan)
    except ValueError:  # a regular expression's matcher
        return None
    stamps = []
    for name in PLAN_SOURCES:
        was = stamp(f"{package.SOURCE_DIR}/{name}")
        if was is None:
            return None
        stamps.append(was)
    return marshal.dumps((PLAN_FORMAT, args, stamps, payload, checksum(payload)))

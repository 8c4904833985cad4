"""``healthgauge.fetch``: the first name of the blocking HTTP/1.1 client, kept for code that imports it.

The client lives in :mod:`healthgauge.http.fetch`, beside the pure HTTP/1.1 core it drives and the
agent's asyncio driver. Importing this name gives that same module object, so an attribute set
through either name is seen through both. ``healthgauge check`` imports the new name only.
"""

import sys

from healthgauge.http import fetch as _fetch
from healthgauge.http.fetch import *  # noqa: F403
from healthgauge.http.fetch import __all__ as __all__

sys.modules[__name__] = _fetch

"""HTTP/1.1 for scraping: one pure core and the two drivers that run it.

- ``_http11``: the sans-I/O response parser and the error tree (no sockets, no clock of its own);
- ``_url``: URLs, request bytes and the one redirect rule;
- ``fetch``: the blocking driver over ``_socket`` with one deadline (``healthgauge check``; public);
- ``_client``: the asyncio driver with keep-alive connections per target (the agent).

This ``__init__`` imports nothing: ``healthgauge check`` pays for every module it loads.
"""

"""``healthgauge check``'s wing: the command, its arguments and output, the quick path, and the
start-up machinery (``startup/``) that lets a check cost about what Python's own start costs.

Nothing here is public: the command line is the interface (README, "healthgauge check").
"""

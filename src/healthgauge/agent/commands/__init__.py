"""The agent's command lines: ``healthgauge agent`` (run it) and ``healthgauge ctl`` (talk to its
admin listener). ``healthgauge.cli`` imports one of these only when its command runs."""

"""Where the agent keeps what it knows: the state hub every server reads from, and the state file
that carries admin and judged states across restarts."""

"""Development tools: one command that runs the whole product on this machine."""

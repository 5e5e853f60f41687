"""`mycelial` sub-commands: graph."""
COMMANDS: list = []

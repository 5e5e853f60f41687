"""`mycelial` sub-commands: memory."""
COMMANDS: list = []

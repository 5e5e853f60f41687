"""`mycelial` sub-commands: pipeline."""
COMMANDS: list = []

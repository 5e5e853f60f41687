"""`mycelial` sub-commands: vqvae."""
COMMANDS: list = []

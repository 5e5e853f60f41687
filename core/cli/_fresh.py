"""An ingest that made a new memory folder and stored nothing leaves no folder behind.

`mycelial ingest typo/ --memory notes` said "nothing was ingested" and still left an empty memory
`notes/` (SQLite file, index, network): the next `recall` found "a memory" holding nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

# the files a memory writes into its own folder (SQLite with its journals, derived state, lock)
_OWN = re.compile(r"memory\.sqlite(-wal|-shm|-journal)?|(index|network)\.\d+\.npz|mycelial\.json|state\.json"
                  r"|vectors\.f16|write\.lock")


def remove_new_empty_memory(folder) -> bool:
    """Delete ``folder``, made by this command, when it holds only a memory's own files; True when gone.

    Called only after the memory was closed with no document in it. Anything else in the folder
    (a file someone put there meanwhile) keeps the folder and everything in it.
    """
    folder = Path(folder)
    entries = list(folder.iterdir())
    if any(not (p.is_file() and _OWN.fullmatch(p.name)) for p in entries):
        return False
    for p in entries:
        p.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        return False
    return True

"""servertask: the stand-alone control client of the Conquest server (conquest-protocol.md §6)."""

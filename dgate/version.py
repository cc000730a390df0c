"""Version strings.

``DGATE_VERSION`` is the Conquest release we are compatible with; it is what the
original prints in its banner, ``display_status`` and the Lua ``version`` global
(conquest-protocol.md §9.3/§9.4), so scripts that parse it keep working.
"""
__version__ = "0.1.0"
DGATE_VERSION = "1.5.0e"

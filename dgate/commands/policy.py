"""Which server commands run, and the log line of each destructive one (issue 9).

The original runs every command for anyone who reaches the port. Here ``RefusedServerCommands``
in dicom.ini lists commands the server refuses (the default, empty, keeps compatibility);
the word ``destructive`` stands for all of :data:`DESTRUCTIVE`. Every destructive command
that runs is logged on the operator console with where it came from; a refused one is logged
as refused. Peer text in these lines is cut at control characters, so it cannot forge lines.
"""
from __future__ import annotations

from .context import CommandContext

# Commands that delete or change stored objects, the database or the configuration, or stop
# the server.
DESTRUCTIVE = frozenset("""
deletepatient deletestudy deletestudies deleteseries deleteimage deleteimagefile deleteimagefromdb
deletesopfromdb deleterecord addrecord initializetables regen regendevice regendir regenfile packdbf
makespace loadanddeletedir quit safequit put_param delete_param put_amap delete_amap write_amap
put_sop put_transfer put_application put_localae put_remoteae delete_sop delete_transfer
delete_application delete_localae delete_remoteae modifypatid modifyimage modifystudy modifyseries
modifier mergeseries mergestudy mergeseriesfile mergestudyfile anonymize movedatatodevice
moveseriestodevice deletebunchafterburning renamedevice restoremagflags
""".split())


def refused(settings) -> set[str]:
    """The command names ``RefusedServerCommands`` lists (``destructive`` expanded)."""
    names = {n.strip().lower() for n in settings.str("RefusedServerCommands").replace(";", ",").split(",")}
    names.discard("")
    if "destructive" in names:
        names |= DESTRUCTIVE
    return names


def printable(text: str, limit: int = 200) -> str:
    """Peer text for a log line: up to the first control character, at most ``limit`` chars."""
    for i, ch in enumerate(text):
        if ord(ch) < 32 or ord(ch) == 127:
            text = text[:i] + "..."
            break
    return text if len(text) <= limit else text[:limit] + "..."


def admit(ctx: CommandContext, name: str, args: str) -> bool:
    """Whether ``name`` may run; logs refused and destructive commands with their source."""
    source = ctx.peer or "this process"
    if name.lower() in refused(ctx.settings):
        ctx.logs.operator.printf(f"***Server command {name}: refused by RefusedServerCommands "
                                 f"(from {printable(source)})\n")
        return False
    if name in DESTRUCTIVE:
        ctx.logs.operator.printf(f"Destructive server command from {printable(source)}: "
                                 f"{name}:{printable(args)}\n")
    return True

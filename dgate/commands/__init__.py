"""Server commands (``--command:args``; conquest-protocol.md §5).

Dispatch is a table: the text before the first ``:`` names the command (case-sensitive,
as the original's prefix compares); the handler gets a :class:`CommandContext` and the
text after the ``:`` and returns the reply payload (bytes/str) or None. Commands of
capabilities not built yet are in the table too and log that they are not available.
An unknown command does nothing and gets an empty reply, as in the original.

Modules register their handlers with :func:`command`:
:mod:`.config_cmds`, :mod:`.status_cmds`, :mod:`.db_cmds`, :mod:`.lister_cmds`, :mod:`.move_cmds`,
:mod:`.hl7_cmds`, :mod:`.dbf_cmds`, :mod:`.image_cmds`, :mod:`.web_cmds`, :mod:`.lua_cmds`,
:mod:`.convert_cmds`, :mod:`.archive_cmds`, :mod:`.commitment_cmds`.
"""
from __future__ import annotations

from typing import Callable

from .context import CommandContext

Handler = Callable[[CommandContext, str], "bytes | str | None"]
COMMANDS: dict[str, Handler] = {}

# Commands whose capability comes with a later piece of work.
PENDING: dict[str, str] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more command names."""
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = handler
        return handler
    return register


def _pending(capability: str) -> Handler:
    def handler(ctx: CommandContext, args: str) -> None:
        ctx.logs.operator.printf(f"*** server command needs the {capability} capability, "
                                 "which this dgate does not have yet\n")
        return None
    return handler


def dispatch(ctx: CommandContext, text: str) -> bytes | None:
    """Run one server command; the reply payload or None."""
    name, _, args = text.partition(":")
    handler = COMMANDS.get(name) if _ else None
    if handler is None:
        return None
    from .policy import admit
    if not admit(ctx, name, args):
        return None
    ctx.counters_add("gui_requests")            # GuiRequest (Lua Global.GuiRequest)
    result = handler(ctx, args)
    if result is None or result == "" or result == b"":
        return None
    return result.encode("latin-1", "replace") if isinstance(result, str) else result


def _load() -> None:
    from . import (  # noqa: F401
        archive_cmds,
        commitment_cmds,
        config_cmds,
        convert_cmds,
        db_cmds,
        dbf_cmds,
        hl7_cmds,
        image_cmds,  # (registration)
        lister_cmds,
        lua_cmds,
        move_cmds,
        status_cmds,
        web_cmds,
    )
    for capability, names in PENDING.items():
        for name in names.split():
            COMMANDS.setdefault(name, _pending(capability))


_load()

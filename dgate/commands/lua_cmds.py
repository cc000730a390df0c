"""Server commands of the Lua capability (conquest-lua-web.md §6.3; conquest-protocol.md §5.3):
``lua: luastart: globallua:`` and the script-driven ``anonymize modifyimage modifystudy
modifyseries modifier mergeseries mergestudy mergeseriesfile mergestudyfile attachfile``.

``lua:`` runs in the association's state (a new one per command association, with
``[lua] association`` run first when the server has not done so); its reply is the
``returnfile`` (read and deleted), else the chunk's result, else the bytes the script
put in ``Command`` 9999,0403. ``luastart:`` returns at once and runs the chunk on its
own thread; ``globallua:`` runs in the global state under its lock.
"""
from __future__ import annotations

import threading

from pydicom.dataset import Dataset

from . import command
from .context import CommandContext


def _services(ctx: CommandContext):
    from ..luabind import states
    from ..luabind.context import LuaServices
    current = states._services
    if current is None or current.config is not ctx.config:
        states.configure(LuaServices(config=ctx.config, logs=ctx.logs, own_ae=ctx.own_ae, server_port=ctx.port))
    return states.services()


def association_state(ctx: CommandContext):
    """The command association's state: the server's (``ctx.lua_state``) or a new one
    that has run ``[lua] association``."""
    existing = getattr(ctx, "lua_state", None)
    if existing is not None:
        return existing
    from ..luabind.states import association_state as new_state
    _services(ctx)
    state = new_state()
    hook = ctx.config.ini.get("lua", "association")
    if hook:
        state.run(hook, _lua_context(ctx))
    return state


def _lua_context(ctx: CommandContext):
    from ..luabind.context import LuaContext
    return LuaContext(calling=getattr(ctx, "calling", "") or ctx.own_ae, called=ctx.own_ae,
                      connected_ip=_ip(ctx.peer))


def _ip(peer: str) -> str:
    text = (peer or "").strip()
    if text.startswith("::ffff:"):
        text = text[7:]
    return text or "0.0.0.0"


def _command_object(ctx: CommandContext, text: str) -> Dataset:
    from ..luabind.elements import set_raw
    cmd = Dataset()
    cmd.AffectedSOPClassUID = "1.2.840.10008.1.1"
    cmd.CommandField = 0x0030
    set_raw(cmd, 0x99990400, "LO", text.encode("latin-1", "replace"))
    if ctx.upload is not None:
        set_raw(cmd, 0x99990402, "OB", ctx.upload)
    return cmd


@command("lua")
def lua(ctx: CommandContext, args: str) -> bytes | None:
    """``lua:`` outside a served association (in the server it runs in the association's
    state, :func:`dgate.luabind.serverhooks.local_command`)."""
    from ..luabind.serverhooks import lua_reply
    state = association_state(ctx)
    return lua_reply(state, args, _lua_context(ctx), _command_object(ctx, "lua:" + args), ctx.logs)


@command("luastart")
def luastart(ctx: CommandContext, args: str) -> None:
    state = association_state(ctx)
    cmd = _command_object(ctx, "luastart:" + args)
    lua_ctx = _lua_context(ctx)
    thread = threading.Thread(target=state.run, args=(args, lua_ctx, None, cmd), name="luastart", daemon=True)
    thread.start()
    return None


@command("globallua")
def globallua(ctx: CommandContext, args: str) -> str | None:
    from ..luabind.states import global_state
    _services(ctx)
    return global_state().run(args, _lua_context(ctx), None, _command_object(ctx, "globallua:" + args))


# -- script-driven changes of stored data ------------------------------------------------------
def _state(ctx: CommandContext):
    from ..luabind.states import fresh_state
    _services(ctx)
    return fresh_state()


def _parts(args: str, count: int) -> list[str]:
    parts = args.split(",", count - 1)
    return parts + [""] * (count - len(parts))


@command("modifier")
def modifier(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import modify_data
    patid, study, series, sop, delete, script = _parts(args, 6)
    from ..config.keys import atoi
    modify_data(_state(ctx), patid, study, series, sop, script, bool(atoi(delete)))


@command("modifystudy")
def modifystudy(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import modify_data
    patid, study, script = _parts(args, 3)
    modify_data(_state(ctx), patid, study, "", "", script, True)


@command("modifyseries")
def modifyseries(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import modify_data
    patid, series, script = _parts(args, 3)
    modify_data(_state(ctx), patid, "", series, "", script, True)


@command("modifyimage")
def modifyimage(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import modify_image_file
    if "," not in args:
        return None
    filename, script = args.split(",", 1)
    modify_image_file(_state(ctx), filename, script)
    return None


@command("anonymize")
def anonymize(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import anonymize_file
    if "," not in args:
        return None
    patid, filename = args.split(",", 1)
    anonymize_file(_state(ctx), patid, filename)
    return None


@command("mergeseries")
def mergeseries(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import merge
    merge(_state(ctx), args.split(","), "series")


@command("mergestudy")
def mergestudy(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import merge
    merge(_state(ctx), args.split(","), "study")


@command("mergeseriesfile")
def mergeseriesfile(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import merge_file
    merge_file(_state(ctx), args, "series")


@command("mergestudyfile")
def mergestudyfile(ctx: CommandContext, args: str) -> None:
    from ..luabind.modify import merge_file
    merge_file(_state(ctx), args, "study")


@command("attachfile")
def attachfile(ctx: CommandContext, args: str) -> None:
    """``attachfile:file,script`` (the uploaded bytes when 9999,0402 came with it)."""
    from ..luabind.modify import attach_file
    filename, _, script = args.partition(",")
    with ctx.file_or_upload(filename, ".dcm", "attach") as path:
        attach_file(_state(ctx), path, script)
    return None

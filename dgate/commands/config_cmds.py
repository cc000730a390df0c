"""Configuration commands (conquest-protocol.md §5.5): ini, AE map, sop list, dictionary,
database definition."""
from __future__ import annotations

from ..config.acrnema import ROW_FORMAT
from ..config.ini import delete_param, put_param
from ..config.keys import atoi
from ..config.kfactor import DICOM_TYPE_NAMES, DatabaseDefinition
from ..config.soplist import SopList
from . import command
from .cformat import cformat, cformat_one
from .context import CommandContext


def _index_fmt(args: str, default: str) -> tuple[int, str]:
    index, _, fmt = args.partition(",")
    return atoi(index), fmt or default


@command("get_param", "get_ini_param")
def get_param(ctx: CommandContext, args: str) -> str | None:
    """Value of a key in the root section, through fmt (default ``%s``)."""
    name, _, fmt = args.partition(",")
    value = ctx.config.ini.param(name.strip())
    return cformat_one(fmt or "%s", value) if value else None      # empty or missing: no reply


@command("get_ini_num")
def get_ini_num(ctx: CommandContext, args: str) -> str | None:
    index, fmt = _index_fmt(args, "%s")
    lines = ctx.config.ini.lines()
    return cformat_one(fmt, lines[index]) if 0 <= index < len(lines) else None


@command("get_ini")
def get_ini(ctx: CommandContext, args: str) -> str:
    fmt = args or "%s"
    return "".join(cformat_one(fmt, line) for line in ctx.config.ini.lines())


@command("put_param")
def put_param_cmd(ctx: CommandContext, args: str) -> None:
    name, _, value = args.partition(",")
    put_param(ctx.config.ini_path, name.strip(), value)
    ctx.config.ini.refresh(force=True)


@command("delete_param")
def delete_param_cmd(ctx: CommandContext, args: str) -> None:
    delete_param(ctx.config.ini_path, args.strip())
    ctx.config.ini.refresh(force=True)


@command("read_ini")
def read_ini(ctx: CommandContext, args: str) -> None:
    ctx.config.ini.refresh(force=True)
    ctx.config.reload_amap()


# -- acrnema.map ---------------------------------------------------------------------------
@command("read_amap")
def read_amap(ctx: CommandContext, args: str) -> None:
    try:
        ctx.config.reload_amap()
    except Exception as exc:
        ctx.logs.operator.printf(f"***Error loading acr-nema map file:{exc}\n")


@command("get_amap")
def get_amap(ctx: CommandContext, args: str) -> str | None:
    index, fmt = _index_fmt(args, ROW_FORMAT)
    entries = ctx.config.amap.entries
    if not 0 <= index < len(entries):
        return None
    e = entries[index]
    return cformat(fmt, [e.ae, e.host, e.port, e.compression] * 3)


@command("get_amaps")
def get_amaps(ctx: CommandContext, args: str) -> str:
    fmt = args or ROW_FORMAT + "\n"
    return "".join(cformat(fmt, [e.ae, e.host, e.port, e.compression] * 3)
                   for e in ctx.config.amap.entries if "*" not in e.ae)


@command("put_amap")
def put_amap(ctx: CommandContext, args: str) -> None:
    parts = (args.split(",") + [""] * 5)[:5]
    ctx.config.amap.put(atoi(parts[0]), parts[1], parts[2], parts[3], parts[4])


@command("delete_amap")
def delete_amap(ctx: CommandContext, args: str) -> None:
    ctx.config.amap.delete(atoi(args))


@command("write_amap")
def write_amap(ctx: CommandContext, args: str) -> None:
    ctx.config.amap.write(ctx.settings.path("ACRNemaMap"))


# -- dgatesop.lst ---------------------------------------------------------------------------
_KINDS = {"sop": "sop", "transfer": "transfer", "application": "application",
          "localae": "localae", "remoteae": "remoteae"}


def _sop_getter(kind: str):
    def handler(ctx: CommandContext, args: str) -> str | None:
        index, fmt = _index_fmt(args, "%s %s")
        entries = ctx.config.soplist().list(kind)
        if not 0 <= index < len(entries):
            return None
        return cformat(fmt, [entries[index].uid, entries[index].name] * 3)
    return handler


def _sop_putter(kind: str):
    def handler(ctx: CommandContext, args: str) -> None:
        index, uid, name = (args.split(",", 2) + ["", ""])[:3]
        path = ctx.settings.path("SOPClassList")
        lst = SopList.load(path)
        lst.put(kind, atoi(index), uid.strip(), name.strip())
        lst.write(path, command=f"put_{kind}")
    return handler


def _sop_deleter(kind: str):
    def handler(ctx: CommandContext, args: str) -> None:
        path = ctx.settings.path("SOPClassList")
        lst = SopList.load(path)
        if lst.delete(kind, atoi(args)):
            lst.write(path, command=f"delete_{kind}")
    return handler


for _kind in _KINDS:
    command(f"get_{_kind}")(_sop_getter(_kind))
    command(f"put_{_kind}")(_sop_putter(_kind))
    command(f"delete_{_kind}")(_sop_deleter(_kind))


# -- dictionary and database definition ------------------------------------------------------
@command("get_dic")
def get_dic(ctx: CommandContext, args: str) -> str | None:
    index, fmt = _index_fmt(args, "%04x %04x %c%c %s")
    entries = ctx.config.dictionary.entries
    if not 0 <= index < len(entries):
        return None
    e = entries[index]
    return cformat(fmt, [e.group, e.element, e.vr[:1], e.vr[1:2], e.keyword] * 3)


@command("mk_binary_dic")
def mk_binary_dic(ctx: CommandContext, args: str) -> None:
    from pathlib import Path
    Path(args.strip()).write_bytes(ctx.config.dictionary.to_binary())


@command("get_sqldef")
def get_sqldef(ctx: CommandContext, args: str) -> str | None:
    level, _, rest = args.partition(",")
    index, fmt = _index_fmt(rest, "0x%4.4x, 0x%4.4x %20s %4d %10s %12s")
    level = level.strip().lower()
    if level not in DatabaseDefinition.LEVELS:
        return None
    entries = ctx.config.kfactor.table(level)
    if not 0 <= index < len(entries):
        return None
    e = entries[index]
    return cformat(fmt, [e.group, e.element, e.column, e.length, e.sql_type,
                         DICOM_TYPE_NAMES.get(e.dicom_type, "--bad--")])

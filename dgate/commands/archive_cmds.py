"""Archival commands (conquest-protocol.md §5.6 "archival", §2 ``-a…``): no reply;
progress goes to the console as ``Archival: …`` lines."""
from __future__ import annotations

from ..codec import storage as _archive_compression  # noqa: F401  (ArchiveCompression, as in the server)
from ..config.keys import atoi
from ..store.archive import Archiver
from . import command
from .context import CommandContext


def archiver(ctx: CommandContext) -> Archiver:
    return Archiver(ctx.db(), ctx.settings, ctx.logs, each=_converter_runner(ctx))


def _converter_runner(ctx: CommandContext):
    """ArchiveConverter0 on every object archived, MoveDeviceConverter0 on every object moved
    (``%f`` its new path; conquest-storage.md §1.4 device.cpp:543–547)."""
    from ..convert.lifecycle import archive_runner
    return archive_runner(ctx.config, ctx.logs, ctx.own_ae)


def _two(args: str) -> tuple[str, str]:
    a, _, b = args.partition(",")
    return a.strip(), b.strip()


@command("selectlruforarchival")
def select_lru(ctx: CommandContext, args: str) -> None:
    kb, device = _two(args)
    archiver(ctx).select_lru(device or "MAG0", atoi(kb))


@command("selectseriestomove")
def select_series(ctx: CommandContext, args: str) -> None:
    device, age, kb = (args.split(",") + ["", "", ""])[:3]
    archiver(ctx).select_series(device.strip() or "MAG0", atoi(age), atoi(kb))


@command("preparebunchforburning")
def prepare_bunch(ctx: CommandContext, args: str) -> None:
    to, source = _two(args)
    archiver(ctx).prepare_bunch(to, source or "MAG0")


@command("movedatatodevice")
def move_data(ctx: CommandContext, args: str) -> None:
    to, source = _two(args)
    archiver(ctx).move_data(source, to)


@command("moveseriestodevice")
def move_series(ctx: CommandContext, args: str) -> None:
    to, source = _two(args)
    archiver(ctx).move_data(source, to, series_only=True)


@command("restoremagflags")
def restore_flags(ctx: CommandContext, args: str) -> None:
    archiver(ctx).restore_flags()


@command("comparebunchafterburning")
def compare_bunch(ctx: CommandContext, args: str) -> None:
    archiver(ctx).compare_bunch(args.strip())


@command("verifymirrordisk")
def verify_mirror(ctx: CommandContext, args: str) -> None:
    archiver(ctx).verify_mirror(args.strip())


@command("testimages")
def test_images(ctx: CommandContext, args: str) -> None:
    archiver(ctx).test_images(args.strip())


@command("deletebunchafterburning")
def delete_bunch(ctx: CommandContext, args: str) -> None:
    archiver(ctx).delete_bunch(args.strip())


@command("renamedevice")
def rename_device(ctx: CommandContext, args: str) -> None:
    old, new = _two(args)
    archiver(ctx).rename(old, new)


@command("makespace")
def make_space(ctx: CommandContext, args: str) -> None:
    archiver(ctx).make_space(atoi(args))

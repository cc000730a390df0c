"""Status, logging, UID and diagnostic commands (conquest-protocol.md §5.6, §5.9, §9.4)."""
from __future__ import annotations

import os
import threading
import time
import zlib

from ..config.keys import atoi
from ..log import FileSink, PipeSink, Sink, UdpSink
from ..store.devices import device_root, devices, free_megabytes
from ..uids import gen_uid
from ..version import DGATE_VERSION
from . import command
from .cformat import cformat
from .context import CommandContext, deliver

#: extra ``display_status`` lines of other capabilities (queues, forwarders): ctx -> lines
STATUS_EXTRAS: list = []


def status_text(ctx: CommandContext) -> str:
    """``StatusDisplay`` text (conquest-protocol.md §9.4).

    Counters come from the server's counters: ``associations`` (non-silent DIMSE messages),
    ``echo``, ``find``, ``move``, ``unknown`` (unsupported DIMSE commands), ``sent``,
    ``received``, ``forwarded``, the compression counters, and ``run_time`` (seconds: the sum
    of the durations of all associations, silent ones included, as the original adds them
    at association end); ``gpps`` is the number of dicom.ini lookups and the run time
    ``gpps`` the seconds spent reading dicom.ini."""
    from ..config.ini import Lookups
    from ..store.ingest import counters as c
    server = ctx.server
    started = getattr(server, "started_at", time.time())
    threads = getattr(server, "association_count", lambda: (0, 0))()
    seconds = c.get
    lines = [
        f"DICOM server '{ctx.own_ae}' (version {DGATE_VERSION}, port {ctx.port}, bits 64) was started on "
        f"{time.ctime(started)}\n",
        "Old JPEG decoder=0, JPEGLIB jpeg codec=1, LIBJASPER jpeg2000 codec=1\n",
        f"Run time (s) total {seconds('run_time')}, query {seconds('query_ms') // 1000}, load {seconds('load_time')}, "
        f"save {seconds('save_time')}, compress {c.get('compress_ms') // 1000}, process {seconds('process_time')}, "
        f"gpps {int(Lookups.seconds)}\n",
        f"Associations={c.get('associations')}; Threads={threads[0]} ({threads[1]} open); "
        f"Images sent={c.get('sent')}, recieved={c.get('received')}, forwarded={c.get('forwarded')}\n",
        f"Images printed={c.get('printed')}, in color={c.get('printed_color')}\n",
        f"Activity: Echo:{c.get('echo')}, Find:{c.get('find')}, Move:{c.get('move')}, Unknown:{c.get('unknown')}, "
        f"gpps:{Lookups.count}\n",
        f"Images (de)compressed: NKI {c.get('nki')}, JPEG {c.get('jpeg')}, JPEG2000 {c.get('j2k')}, "
        f"RLE {c.get('rle')}, "
        f"Planes removed {c.get('planes')}, Palettes removed {c.get('palettes')}, "
        f"Downsize {c.get('downsize')}\n",
    ]
    for dev in devices(ctx.settings, "MAG"):
        lines.append(f"Space on MAG{dev.index}  : {free_megabytes(dev.root)} MByte\n")
    for dev in devices(ctx.settings, "CACHE"):
        lines.append(f"Space on CACHE{dev.index}: {free_megabytes(os.path.dirname(dev.root))} MByte\n")
    for extra in STATUS_EXTRAS:
        lines += extra(ctx)
    try:
        label = ctx.db().label
    except Exception as exc:  # a database that is down must not hide the rest
        label = f"unavailable ({exc})"
    lines.append(f"Database type: {label}\n")
    if label.startswith("built-in Dbase driver"):
        lines += dbase_record_lines(ctx.settings.str("SQLServer"))
    return "".join(lines)


def dbase_record_lines(folder: str) -> list[str]:
    """``Database <file> has <n> records`` for the first 10 DBF files of the folder, in
    directory order, with the record count of each file's header (deleted ones included)."""
    import struct
    lines = []
    try:
        names = [n for n in os.listdir(folder) if n[:1] not in "xX" and (".dbf" in n or ".DBF" in n)]
    except OSError:
        return []
    for name in names[:10]:
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                head = handle.read(8)
        except OSError:
            continue
        count = struct.unpack_from("<I", head, 4)[0] if len(head) == 8 else 0
        lines.append(f"Database {folder}{name} has {count} records\n")
    return lines


@command("display_status")
def display_status(ctx: CommandContext, args: str) -> bytes | None:
    return deliver(status_text(ctx), args, pre=True)


@command("status_string")
def status_string(ctx: CommandContext, args: str) -> bytes | None:
    text = getattr(ctx.server, "status_string", "")
    if args.strip() == "cgi":
        data = f"Content-type: text/plain\n\n<pre>{text} "
        return data[: len(data) // 2 * 2].encode("latin-1")
    return deliver(text, args, pre=True) if text else None


@command("echo")
def echo_cmd(ctx: CommandContext, args: str) -> bytes | None:
    from ..net import scu
    ae, _, out = args.partition(",")
    address = ctx.config.amap.lookup(ae.strip())
    up = address is not None and scu.echo(ctx.own_ae, address)
    return deliver(f"{ae.strip()} is {'UP' if up else 'DOWN'}", out, pre=True)


@command("genuid")
def genuid(ctx: CommandContext, args: str) -> str:
    return gen_uid(ctx.settings.str("UIDPrefix"))


@command("changeuid")
def changeuid(ctx: CommandContext, args: str) -> str:
    return ctx.db().change_uid(args.strip())


@command("changeuidback")
def changeuidback(ctx: CommandContext, args: str) -> str | None:
    return ctx.db().change_uid_back(args.strip())


@command("checksum")
def checksum(ctx: CommandContext, args: str) -> str:
    """CRC-32 table with initial value 0 and no final XOR (``ComputeCRC``)."""
    return str(zlib.crc32(args.encode("latin-1"), 0xFFFFFFFF) ^ 0xFFFFFFFF)


@command("get_freestore")
def get_freestore(ctx: CommandContext, args: str) -> str:
    device, _, fmt = args.partition(",")
    root = device_root(ctx.settings, device.strip())
    return cformat(fmt or "%d", [free_megabytes(root) if root else -1])


@command("debuglevel")
def debuglevel(ctx: CommandContext, args: str) -> None:
    if ctx.server is not None:
        ctx.server.debug_level = atoi(args)


def _route(ctx: CommandContext, target: str, both: bool) -> None:
    logs = ctx.logs
    logs.operator.off()
    logs.debug.off()
    target = target.strip()
    sink: Sink
    if target[:1].isdigit():
        sink = UdpSink(ctx.settings.str("OperatorConsole"), atoi(target))
    elif target.startswith(os.sep):
        sink = PipeSink(target) if os.path.exists(target) and not os.path.isfile(target) \
            else FileSink(target, timestamps=True)
    else:
        sink = FileSink(target, timestamps=True)
    logs.operator.send_to(sink)
    if both:
        logs.debug.send_to(sink)


@command("debuglog_on")
def debuglog_on(ctx: CommandContext, args: str) -> None:
    _route(ctx, args, True)


@command("log_on")
def log_on(ctx: CommandContext, args: str) -> None:
    _route(ctx, args, False)


@command("checklargestmalloc")
def checklargestmalloc(ctx: CommandContext, args: str) -> None:
    """Console ``Largest malloc = N MB``: the memory available to one object (free RAM)."""
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    ctx.logs.operator.printf(f"Largest malloc = {available} MB\n")


@command("browsepatient")
def browsepatient(ctx: CommandContext, args: str) -> None:
    ctx.logs.operator.printf(f"Browse patient: {args}\n")


@command("testmode")
def testmode(ctx: CommandContext, args: str) -> None:
    """Append ``args`` to the names of files stored from now on (empty: stop)."""
    if ctx.server is not None:
        ctx.server.ingest.test_mode = args


@command("quit")
def quit_cmd(ctx: CommandContext, args: str) -> None:
    """Stop the server at once, without a reply (as the original's ``exit(0)``)."""
    ctx.logs.operator.printf("Server stopped by quit: command\n")
    os._exit(0)


@command("safequit")
def safequit(ctx: CommandContext, args: str) -> None:
    """Stop when this is the only open association."""
    def wait_and_exit() -> None:
        while ctx.server is not None and ctx.server.association_count()[1] > 1:
            time.sleep(0.2)
        ctx.logs.operator.printf("Server stopped by safequit: command\n")
        os._exit(0)
    threading.Thread(target=wait_and_exit, daemon=True).start()

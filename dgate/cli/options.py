"""The single-dash options of ``dgate`` (``ParseArgs``, conquest-protocol.md §2).

Options are processed left to right. Each is recognised by its second character
(case-insensitive, except ``-l``/``-L``); the handler table :data:`OPTIONS` maps that
character to a function ``handler(inv, text, rest) -> int | None``: ``None`` means go
on with the next argument, an int ends the run with that exit code. ``text`` is the
argument after the option letter, ``rest`` the arguments after this one (``-e`` and
``-nu`` take words from it).

Options whose capability is not built yet raise :class:`MissingCapability`, which the
caller turns into a clear message and exit code 1.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from ..log import FileSink, PipeSink, StdoutSink, UdpSink
from .context import Invocation, MissingCapability
from .help import help_text

Handler = Callable[[Invocation, str, list], "int | None"]


# -- logging and mode options (do not exit) -------------------------------------------
def opt_verbose(inv: Invocation, text: str, rest: list) -> None:
    """-v: OperatorConsole and SystemDebug to stdout."""
    sink = StdoutSink()
    inv.logs.operator.send_to(sink)
    inv.logs.debug.send_to(sink)


def opt_debug_mode(inv: Invocation, text: str, rest: list) -> None:
    """-b: as -v, DebugLevel 4, single-threaded server."""
    opt_verbose(inv, text, rest)
    inv.debug_level = 4
    inv.single_thread = True


def _network_sink(inv: Invocation, text: str, default_port: int = 1111):
    target = inv.settings.str("OperatorConsole")
    if text.startswith(os.sep) or text.startswith("/"):
        return PipeSink(text)
    digits = "".join(ch for ch in text if ch.isdigit())
    return UdpSink(target, int(digits) if digits else default_port)


def opt_udp(inv: Invocation, text: str, rest: list) -> None:
    """-u#: both channels to UDP ``OperatorConsole``:#, or -u/pipe to a named pipe."""
    sink = _network_sink(inv, text)
    inv.logs.operator.send_to(sink)
    inv.logs.debug.send_to(sink)


def opt_ini_console(inv: Invocation, text: str, rest: list) -> None:
    """-!#: OperatorConsole only, to the pipe or UDP host named by ``OperatorConsole``."""
    target = inv.settings.str("OperatorConsole")
    if target.startswith(os.sep) or target.startswith("\\"):
        inv.logs.operator.send_to(PipeSink(target))
    else:
        inv.logs.operator.send_to(_network_sink(inv, text))


def opt_gui_log(inv: Invocation, text: str, rest: list) -> None:
    """-^file: OperatorConsole to file with timestamps; starts the zip/cleanup thread."""
    inv.logs.operator.send_to(FileSink(text, timestamps=True))
    inv.zip_thread = True


def opt_gui_debug_log(inv: Invocation, text: str, rest: list) -> None:
    """-#file: both channels to file with timestamps; starts the zip/cleanup thread."""
    sink = FileSink(text, timestamps=True)
    inv.logs.operator.send_to(sink)
    inv.logs.debug.send_to(sink)
    inv.zip_thread = True


def opt_debug_file(inv: Invocation, text: str, rest: list) -> None:
    """-Lfile: both channels to file, no timestamps."""
    sink = FileSink(text, timestamps=False)
    inv.logs.operator.send_to(sink)
    inv.logs.debug.send_to(sink)


def opt_log_file(inv: Invocation, text: str, rest: list) -> None:
    """-lfile: OperatorConsole to file, no timestamps."""
    inv.logs.operator.send_to(FileSink(text, timestamps=False))


def opt_progress(inv: Invocation, text: str, rest: list) -> None:
    """-x#: Progress channel to UDP ``OperatorConsole``:# (-x!# asks for TCP; UDP is used)."""
    inv.logs.progress.send_to(_network_sink(inv, text.lstrip("!")))


def opt_nothing(inv: Invocation, text: str, rest: list) -> None:
    """-$ (binary stdout on Windows) and -w (handled before parsing)."""


def opt_port(inv: Invocation, text: str, rest: list) -> None:
    """-p#: listen port, and the port --commands connect to."""
    inv.port = text


def opt_address(inv: Invocation, text: str, rest: list) -> None:
    """-qIP: address --commands are sent to."""
    inv.server_address = text


def opt_ae(inv: Invocation, text: str, rest: list) -> None:
    """-hAE: own AE title (calling and called AE of control associations)."""
    inv.ae = text


def opt_counter(inv: Invocation, text: str, rest: list) -> None:
    """-c#: start of the counter used in generated UIDs."""
    from .. import uids
    from ..config.keys import atoi
    uids.set_counter(atoi(text))


# -- listings and tests ------------------------------------------------------------------
def opt_devices(inv: Invocation, text: str, rest: list) -> int:
    """-d: free space per device."""
    from ..store.devices import free_space_report
    inv.logs.debug.off()
    inv.say(free_space_report(inv.settings))
    return 0


def opt_amap(inv: Invocation, text: str, rest: list) -> int:
    """-m: the AE map."""
    inv.say(inv.config.amap.dump())
    return 0


def opt_kfactor(inv: Invocation, text: str, rest: list) -> int:
    """-k: the parsed dicom.sql."""
    from ..config.kfactor import dump_kfactor
    inv.say(dump_kfactor(inv.config.kfactor, inv.config.table_names()))
    return 0


def opt_console_test(inv: Invocation, text: str, rest: list) -> int:
    """-t: write test lines to both channels."""
    op, dbg = inv.logs.operator, inv.logs.debug
    op.printf("This is a test of the OperatorConsole channel\n")
    op.printf("OperatorConsole test line 2\n")
    dbg.printf("This is a test of the SystemDebug channel\n")
    dbg.printf("SystemDebug long line: " + "0123456789" * 100 + "\n")
    op.printf(" ---------- Succesful end of test -----------\n")
    return 0


# -- -f utilities -------------------------------------------------------------------------
def opt_file_utils(inv: Invocation, text: str, rest: list) -> int:
    """-f…: file and database utilities; -fu and -f? need no database."""
    sub, arg = text[:1], text[1:]
    if sub == "u":
        from .. import uids
        sys.stdout.write(uids.gen_uid(inv.settings.str("UIDPrefix")) + "\n")
        return 0
    if sub == "?":
        return _print_sop_uid(inv, arg)
    from .dbtools import F_OPTIONS
    handler = F_OPTIONS.get(sub)
    if handler is None:
        raise MissingCapability(f"option -f{sub}", "storage (adding and changing files)")
    return handler(inv, arg)


def _print_sop_uid(inv: Invocation, filename: str) -> int:
    import pydicom

    try:
        ds = pydicom.dcmread(filename, force=True, stop_before_pixels=True)
        uid = str(ds.SOPInstanceUID)
        for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"):
            if keyword not in ds:
                raise KeyError(keyword)
    except KeyError:
        inv.logs.operator.printf(f"***[GetImageFileUID] {filename} -FAILED: file does not contain correct UIDs\n")
        return 1
    except Exception:
        inv.logs.operator.printf(f"***[GetImageFileUID] {filename} -FAILED: Error on Load\n")
        return 1
    sys.stdout.write(uid + "\n")
    return 0


def opt_help(inv: Invocation, text: str, rest: list) -> int:
    sys.stderr.write(help_text())
    return 0


def opt_nki(inv: Invocation, text: str, rest: list) -> int:
    """-nd/-nu/-nc: NKI (de)compression of a file (:mod:`.compress_options`, imported on use)."""
    from .compress_options import opt_nki as run
    return run(inv, text, rest)


def opt_jpeg(inv: Invocation, text: str, rest: list) -> int:
    """-jd/-jc/-j*/-j-: JPEG (re)compression of a file, -js/-jj its JSON (Lua Serialize)
    (:mod:`.compress_options`, imported on use)."""
    from .compress_options import opt_jpeg as run
    return run(inv, text, rest)


def opt_archive(inv: Invocation, text: str, rest: list) -> int:
    """-ar (regen a device) and the archival options -as -ab -am -au -ac -av -at -ad -ae
    (:mod:`.archive_opts`, imported on use)."""
    from .archive_opts import opt_archive as run
    return run(inv, text, rest)


def _dbtool(name: str) -> Handler:
    """A handler of :mod:`.dbtools`, imported when used: it loads the database layer, which
    the light options (-m, -k, -?) do not need."""
    def handler(inv: Invocation, text: str, rest: list) -> int | None:
        from . import dbtools
        result: int | None = getattr(dbtools, name)(inv, text, rest)
        return result
    return handler


def opt_odbc_dsn(inv: Invocation, text: str, rest: list) -> int:
    sys.stderr.write("dgate: -s creates an ODBC system data source on Windows only; on Linux "
                     "define the data source in /etc/odbc.ini (unixODBC) and set SQLServer to its name\n")
    return 1


def opt_grab(inv: Invocation, text: str, rest: list) -> int:
    """``-gAE[,DATE]``: ``GrabImagesFromServer`` (the missing images of that date's studies
    on AE moved to this server); exit 1 when AE is unknown or does not answer."""
    from ..commands.context import CommandContext
    from ..commands.convert_cmds import grab
    ae, _, date = text.partition(",")
    port = str(inv.tcp_port)
    ctx = CommandContext(inv.config, inv.logs, inv.my_ae, int(port) if port.isdigit() else 0)
    try:
        return 0 if grab(ctx, ae, date or "*") else 1
    finally:
        ctx.close()


OPTIONS: dict[str, Handler] = {
    "v": opt_verbose, "b": opt_debug_mode, "u": opt_udp, "!": opt_ini_console,
    "^": opt_gui_log, "#": opt_gui_debug_log, "L": opt_debug_file, "l": opt_log_file,
    "x": opt_progress, "$": opt_nothing, "w": opt_nothing,
    "p": opt_port, "q": opt_address, "h": opt_ae, "c": opt_counter,
    "d": opt_devices, "m": opt_amap, "k": opt_kfactor, "t": opt_console_test,
    "f": opt_file_utils, "s": opt_odbc_dsn,
    "i": _dbtool("opt_initialize"), "r": _dbtool("opt_regen"), "o": _dbtool("opt_test_database"),
    "e": _dbtool("opt_create_database"), "z": _dbtool("opt_zap_patient"),
    "g": opt_grab, "a": opt_archive,
    "n": opt_nki, "j": opt_jpeg,
}

CASE_SENSITIVE = {"L", "l"}


def lookup(argument: str) -> tuple[Handler, str]:
    """Handler and option text for ``-X...``; unknown letters get the help text."""
    letter = argument[1:2]
    if letter not in CASE_SENSITIVE:
        letter = letter.lower()
    return OPTIONS.get(letter, opt_help), argument[2:]

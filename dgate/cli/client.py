"""The client half of ``dgate --command`` and ``servertask`` (conquest-protocol.md §3, §4.6).

The reply payload is written raw to stdout (minus the odd-length pad byte), with no
newline. Exit code 255 when there was a payload, 0 when the server answered without
one, 1 when the server could not be reached or did not answer.
``--addlocalfile:FILE[,PATID]`` uploads the file as ``addimagefile:`` and prints only the
command text followed by FILE, as the original does.

Clearer than the original, on stderr only (stdout and exit codes stay as scripts expect):
a command name the server does not know, and a ``get_param:`` that found no value, get a
one-line hint; the placeholder ``--cmd:`` is refused with the form to use (exit code 1).

Standard library only: this is the path every script call takes.
"""
from __future__ import annotations

import sys

from ..net.control_client import DEFAULT_TEXT, ControlError, send_command

# Every command prefix the server understands (conquest-protocol.md §5.10, plus the
# client-side ``addlocalfile`` and ``dolua``, and our ``requestcommitment``); tests/test_client.py keeps it in step with
# the server's command table.
SERVER_COMMANDS = frozenset("""
addimagefile addlocalfile addrecord anonymize attachanytopatient attachanytoseries attachanytostudy
attachfile attachrtplantortstruct browsepatient changeuid changeuidback checklargestmalloc checksum
clonedb comparebunchafterburning compress convert_to_bmp convert_to_dicom convert_to_gif
convert_to_jpg convert_to_json count_frames debuglevel debuglog_on delete_amap delete_application
delete_localae delete_param delete_remoteae delete_sop delete_transfer deletebunchafterburning
deleteimage deleteimagefile deleteimagefromdb deletepatient deleterecord deleteseries
deletesopfromdb deletestudies deletestudy display_status dolua dump_header echo export extract
extract_frames forward genuid get_amap get_amaps get_application get_dic get_freestore get_ini
get_ini_num get_ini_param get_localae get_param get_remoteae get_sop get_sqldef get_transfer
globallua grabimagesfromserver imagefinder imagelister indexdbf initializetables loadanddeletedir
loadhl7 log_on lua luastart makespace mergeseries mergeseriesfile mergestudy mergestudyfile
mk_binary_dic modifier modifyimage modifypatid modifyseries modifystudy move moveaccession
movedatatodevice movepatient moveseries moveseriestodevice movestudies movestudy packdbf
patientfinder prefetch preparebunchforburning put_amap queue_status put_application put_localae put_param
put_remoteae put_sop put_transfer query query2 quit read_amap read_ini regen regendevice regendir
regenfile renamedevice requestcommitment restoremagflags safequit selectlruforarchival selectseriestomove
seriesfinder serieslister status_string studyfinder submit submit2 testcompress testimages
testmode todbf uncompress verifymirrordisk wadoparse wadorequest write_amap
""".split())

PLACEHOLDERS = ("cmd", "command", "xxx")      # how usage texts write "a command goes here"


def _hint(prog: str, text: str) -> None:
    sys.stderr.write(f"{prog}: {text}\n")


def check_command(command: str, prog: str) -> int | None:
    """Refuse the placeholder form (exit code 1); warn about unknown names (sent anyway)."""
    name, colon, _ = command.partition(":")
    if name in PLACEHOLDERS:
        _hint(prog, f"'--{command}' is a placeholder, not a server command: write the command itself, "
                    f"e.g. {prog} --display_status: or {prog} --get_param:MyACRNema")
        return 1
    if not colon or name not in SERVER_COMMANDS:
        _hint(prog, f"'{name}{colon}' is not a server command; the server ignores it "
                    "(README.md, 'Server commands', lists them)")
    return None


def send_to_server(command: str, host: str, port: str | int, ae: str,
                   console_text: str | None = DEFAULT_TEXT, prog: str = "dgate") -> int:
    refused = check_command(command, prog)
    if refused is not None:
        return refused
    upload = None
    if command.startswith("addlocalfile:"):
        filename = command[len("addlocalfile:"):]
        name = filename.split(",", 1)[0]
        try:
            with open(name, "rb") as handle:
                upload = handle.read()
        except OSError as exc:
            _hint(prog, f"cannot read {name}: {exc}")
            return 1
        command = "addimagefile:" + filename
        sys.stdout.write(command + name)
        sys.stdout.flush()
    try:
        reply = send_command(command, host=host, port=int(port), ae=ae, console_text=console_text,
                             upload=upload)
    except ControlError as exc:
        if command.partition(":")[0] in ("quit", "safequit") and "closed" in str(exc):
            return 1             # the server stops without a reply: quiet, exit code 1 as the original
        _hint(prog, f"no answer from the server at {host}:{port} ({exc})")
        return 1
    except ValueError:
        _hint(prog, f"'{port}' is not a port number")
        return 1
    if upload is not None:
        return 255 if reply.has_payload else 0
    if reply.has_payload:
        sys.stdout.buffer.write(reply.data())
        sys.stdout.flush()
        return 255
    if command.startswith(("get_param:", "get_ini_param:")):
        key = command.partition(":")[2].partition(",")[0]
        _hint(prog, f"get_param: '{key}' has no value in the server's dicom.ini")
    return 0

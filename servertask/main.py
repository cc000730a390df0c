"""``servertask``: the stand-alone control client (conquest-protocol.md §6).

Built-in defaults as the original: AE ``CONQUESTSRV1``, address ``127.0.0.1``, port
``5678``; ``-hAE``, ``-pPORT``, ``-qIP`` override them, ``-$`` and ``-w`` are ignored. No
dicom.ini is read. ``--command:args`` is sent to the server; exit codes 255/0/1 as dgate.
``--dolua:<chunk>`` and a bare chunk run in a plain Lua 5.1 state with only ``servercommand``.
Standard library only on the command path.
"""
from __future__ import annotations

import sys

USAGE = ("servertask: Conquest server control client\n"
         "  servertask [-hAE] [-pPORT] [-qIP] --<command>:<arguments>\n"
         "      e.g. servertask -p5678 --display_status:   servertask --get_param:MyACRNema\n"
         "      (the server commands are listed in dgate's README.md, 'Server commands')\n"
         "  servertask [-hAE] [-pPORT] [-qIP] --dolua:chunk | luachunk\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        sys.stdout.write("Conquest server control client: -? provides help\n")
        return 0
    ae, host, port = "CONQUESTSRV1", "127.0.0.1", "5678"
    for arg in argv:
        if arg.startswith("--dolua:") or not arg.startswith("-"):
            from dgate.luabind.entry import servertask_dolua
            return servertask_dolua(arg[8:] if arg.startswith("--dolua:") else arg, host, port, ae)
        if arg.startswith("--"):
            from dgate.cli.client import send_to_server
            return send_to_server(arg[2:], host, port, ae, prog="servertask")
        letter, value = arg[1:2], arg[2:]
        if letter == "?":
            sys.stdout.write(USAGE)
            return 0
        if letter == "h":
            ae = value
        elif letter == "p":
            port = value
        elif letter == "q":
            host = value
        elif letter in ("$", "w"):
            continue
        else:
            sys.stdout.write(f"unrecognised argument: {arg}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``servertask`` entry point: sends ``--command`` text to a running dgate.

Built-in defaults as the original: AE ``CONQUESTSRV1``, address ``127.0.0.1``, port
``5678``; ``-h``, ``-p``, ``-q`` override them. No dicom.ini is read.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        sys.stdout.write("Conquest server control client: -? provides help\n")
        return 0
    for arg in argv:
        if arg == "-?":
            sys.stdout.write("servertask [-hAE] [-pPORT] [-qIP] --command:args | --dolua:chunk | luachunk\n")
            return 0
        if arg.startswith("-") and not arg.startswith("--") and arg[1:2] not in "hpqw$":
            sys.stdout.write(f"unrecognised argument: {arg}\n")
            return 1
    sys.stderr.write("servertask: sending commands needs the server-command channel capability, "
                     "which this build does not have yet\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())

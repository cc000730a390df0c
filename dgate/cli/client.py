"""The client half of ``dgate --command`` and ``servertask`` (conquest-protocol.md §3, §4.6).

The reply payload is written raw to stdout (minus the odd-length pad byte), with no
newline. Exit code 255 when there was a payload, 0 when the server answered without
one, 1 when the server could not be reached or did not answer.
``--addlocalfile:FILE[,PATID]`` uploads the file as ``addimagefile:`` and prints only the
command text followed by FILE, as the original does.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..net.control import ControlError, DEFAULT_TEXT, send_command


def send_to_server(command: str, host: str, port: str | int, ae: str,
                   console_text: str | None = DEFAULT_TEXT) -> int:
    upload = None
    if command.startswith("addlocalfile:"):
        filename = command[len("addlocalfile:"):]
        name = filename.split(",", 1)[0]
        try:
            upload = Path(name).read_bytes()
        except OSError as exc:
            sys.stderr.write(f"dgate: cannot read {name}: {exc}\n")
            return 1
        command = "addimagefile:" + filename
        sys.stdout.write(command + name)
        sys.stdout.flush()
    try:
        reply = send_command(command, host=host, port=int(port), ae=ae, console_text=console_text,
                             upload=upload)
    except ControlError:
        return 1
    if upload is not None:
        return 255 if reply.has_payload else 0
    if reply.has_payload:
        sys.stdout.buffer.write(reply.data())
        sys.stdout.flush()
        return 255
    return 0

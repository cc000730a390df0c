"""``loadhl7:file``: HL7 orders from a file into the worklist (conquest-protocol.md §5)."""
from __future__ import annotations

from ..db import DatabaseError
from ..hl7 import HL7Error, import_file
from . import command
from .context import CommandContext


@command("loadhl7")
def loadhl7(ctx: CommandContext, args: str) -> None:
    """Load an HL7 file into the worklist; errors go to the operator log, no reply."""
    path = args.strip()
    try:
        result = import_file(path, ctx.db(), ctx.logs)
    except OSError as exc:
        ctx.logs.operator.printf(f"***loadhl7: cannot read {path}: {exc.strerror or exc}\n")
        return
    except HL7Error as exc:
        ctx.logs.operator.printf(f"***loadhl7: malformed HL7, nothing loaded: {exc}\n")
        return
    except DatabaseError as exc:
        ctx.logs.operator.printf(f"***loadhl7: worklist insert failed, nothing loaded: {exc}\n")
        return
    ctx.logs.operator.printf(f"loadhl7: {len(result.rows)} worklist entr{'y' if len(result.rows) == 1 else 'ies'} "
                             f"from {path}\n")
    return

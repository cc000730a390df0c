"""The one exception the codec raises."""
from __future__ import annotations


class CodecError(Exception):
    """Pixel data that cannot be decoded or encoded.

    The message names the object (SOP Instance UID when known) and the codec, e.g.
    ``1.2.3.4: JPEG Baseline (Process 1) decode failed: ...``, so a log line tells which
    file and which step went wrong.
    """

    def __init__(self, message: str, sop: str = "", codec: str = ""):
        self.sop = sop
        self.codec = codec
        self.reason = message
        prefix = f"{sop}: " if sop else ""
        where = f"{codec}: " if codec else ""
        super().__init__(f"{prefix}{where}{message}")

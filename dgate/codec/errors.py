"""The one exception the codec raises."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


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


def is_library_failure(exc: BaseException) -> bool:
    """Whether an exception from a codec library is a failure of that library to be
    turned into :class:`CodecError` (Rust libraries such as pylibjpeg-rle raise
    ``pyo3_runtime.PanicException``, a BaseException, on bad input); interpreter exits
    and interrupts are not."""
    return not isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def reported(func: F) -> F:
    """Entry points raise :class:`CodecError` for anything a damaged object makes the
    libraries raise (pydicom on a broken element, a decoder panic), so no caller is taken
    down by bad input."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CodecError:
            raise
        except BaseException as exc:
            if not is_library_failure(exc):
                raise
            raise CodecError(f"cannot process the object: {type(exc).__name__}: {exc}"[:400]) from exc
    return wrapper  # type: ignore[return-value]

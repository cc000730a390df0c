"""Converter return codes (conquest-lua-web.md §8.7)."""
from __future__ import annotations

from enum import IntEnum


class RC(IntEnum):
    """The ``rc`` a converter line leaves behind; callers act on it."""

    NONE = 0        # normal; also "no converter ran" for the query-result optimisation
    OK = 1          # initial value
    DESTROY = 2     # object dropped silently / query cancelled / record not returned
    STOP = 3        # this converter line ends; the next converter still runs
    SKIP = 4        # condition false: skip the next statement or { } block
    RETURN = 5      # ends a called file
    REJECT = 6      # store fails
    RETRY = 7       # RejectedImage*Converter0 only: retry the database step once
    DEFER = 8       # export: try again later


#: rc values that end the statement loop of an import-side line
IMPORT_ENDS = frozenset({RC.STOP, RC.DESTROY, RC.RETURN, RC.REJECT})
#: rc values that end an export-side line
EXPORT_ENDS = frozenset({RC.STOP, RC.RETURN})

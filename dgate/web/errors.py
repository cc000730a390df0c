"""PS3.18 error answers: a status code with a reason (never an empty 200).

The reason goes in the body (``text/plain``) and, as PS3.18 §8.1.4 asks for warnings and
errors, in a ``Warning: 299 <host>: <reason>`` header.
"""
from __future__ import annotations

from starlette.responses import PlainTextResponse


class HTTPProblem(Exception):
    """Raised by route code; turned into a response by :func:`problem_response`."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def warning(text: str) -> str:
    """A ``Warning`` header value (RFC 7234 §5.5) for any text: one line, ASCII, no quotes."""
    safe = text.replace("\r", " ").replace("\n", " ").replace('"', "'")[:400]
    return f'299 dgate "{safe.encode("ascii", "replace").decode("ascii")}"'


def problem_response(status: int, reason: str) -> PlainTextResponse:
    return PlainTextResponse(reason + "\n", status_code=status, headers={"Warning": warning(reason)})


def bad_request(reason: str) -> HTTPProblem:
    return HTTPProblem(400, reason)


def not_found(reason: str) -> HTTPProblem:
    return HTTPProblem(404, reason)


def not_acceptable(reason: str) -> HTTPProblem:
    return HTTPProblem(406, reason)

"""Static files from one folder, with no way out of it (``..``, absolute or backslash
names, NUL, symbolic links leading elsewhere are refused with 400/404)."""
from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from .errors import HTTPProblem

mimetypes.add_type("application/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


def safe_file(root: Path, name: str) -> Path | None:
    """The file ``name`` inside ``root``, or None when it does not exist; raises
    HTTPProblem(400) for names that would leave the folder."""
    if "\0" in name or "\\" in name:
        raise HTTPProblem(400, "file names may not contain NUL or backslash")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or name.startswith("//"):
        raise HTTPProblem(400, "file names may not contain '..'")
    base = root.resolve()
    target = (base / "/".join(parts)).resolve() if parts else base
    try:
        target.relative_to(base)
    except ValueError:
        raise HTTPProblem(400, "the name leads outside the web folder")
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def folder(root_of, index_fallback: bool = False):
    """A handler serving files from ``root_of()``; ``index_fallback`` serves index.html
    for unknown paths (single-page applications such as OHIF)."""
    async def handler(request: Request) -> Response:
        root = root_of(request)
        if root is None or not Path(root).is_dir():
            raise HTTPProblem(404, "this web application is not installed")
        name = request.path_params.get("path", "")
        if not name and not request.url.path.endswith("/"):
            return RedirectResponse(request.url.path + "/")
        target = safe_file(Path(root), name)
        if target is None and index_fallback and "." not in name.rsplit("/", 1)[-1]:
            target = safe_file(Path(root), "index.html")
        if target is None:
            raise HTTPProblem(404, f"not found: {name}")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=ctype)
    return handler

"""Retrieve Rendered and Retrieve Thumbnail (PS3.18 §10.4: ``…/rendered`` and
``…/thumbnail`` at study, series, instance and frame level), images drawn by
:mod:`.rendering`.

Media types (``Accept``, or the ``accept`` query parameter, which takes precedence):
``image/jpeg`` (the default), ``image/png``, ``image/gif``, ``image/jp2``, single or as
``multipart/related; type=…``.

* An instance as one image is its first frame; as ``image/gif`` a multi-frame instance
  is an animated GIF of all its frames. As multipart, every frame is a part.
* A frame list as one image must be one frame (or ``image/gif``, animated over the list);
  as multipart, a part per frame.
* A series or study as one image is its representative instance (the middle one in
  instance order, as Conquest's thumbnails pick it); as multipart, every frame of every
  image instance in series and instance order, streamed (instances without pixel data
  are left out).
* Thumbnails are one image of the representative instance (first frame, or the frame
  named), fitted to 128×128 unless ``viewport=vw,vh`` says otherwise. Under Conquest's
  ``/api/dicom/rs`` they are drawn as Conquest draws them (``save jpg size 128``,
  :func:`dgate.codec.render`); Conquest's ``…/instances/{uid}/thumbnail/frames/{n}``
  route is in :mod:`.conquest`.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .. import codec
from . import rendering, retrieve
from .context import WebContext
from .errors import HTTPProblem, not_acceptable, warning
from .frames import frame_count, parse_frame_list
from .multipart import closing, new_boundary, part_head, split_accept

SINGLE = tuple(rendering.MEDIA_FORMATS)
CONQUEST_FORMATS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}


@dataclass(frozen=True)
class Wanted:
    media: str
    multipart: bool


def wanted_media(request: Request, multipart_allowed: bool = True) -> list[Wanted]:
    """The acceptable rendered media types, best first (PS3.18 §8.3.3.1, §8.7.4)."""
    accept = request.query_params.get("accept") or request.headers.get("accept", "")
    if not accept.strip():
        return [Wanted("image/jpeg", False)]
    out = []
    for media, params, _q in split_accept(accept):
        if media == "multipart/related" and multipart_allowed:
            kind = params.get("type", "").lower()
            if kind in SINGLE:
                out.append(Wanted(kind, True))
            elif kind in ("", "image/*", "*/*"):
                out.append(Wanted("image/jpeg", True))
        elif media in SINGLE:
            out.append(Wanted(media, False))
        elif media in ("image/*", "*/*"):
            out.append(Wanted("image/jpeg", False))
    if not out:
        offered = ", ".join(SINGLE)
        raise not_acceptable(f"cannot render as {accept}; rendered media types offered: {offered}"
                             + (" (also as multipart/related)" if multipart_allowed else ""))
    return out


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def _options(request: Request, thumbnail: bool = False) -> rendering.Options:
    return rendering.parse_options(dict(request.query_params), thumbnail)


def _warned(response: Response, opts: rendering.Options) -> Response:
    if opts.warnings:
        response.headers["Warning"] = warning("; ".join(opts.warnings))
    return response


def representative(located: list[retrieve.Located]) -> list[retrieve.Located]:
    """The instances to try for "the" image of a series or study: the middle one first,
    then outwards."""
    middle = len(located) // 2
    order = sorted(range(len(located)), key=lambda i: (abs(i - middle), i))
    return [located[i] for i in order]


def _first_image(located: list[retrieve.Located]) -> Dataset:
    reasons = []
    for loc in representative(located):
        try:
            ds = retrieve.load_dataset(loc)
        except Exception as exc:            # a broken file: try the next one
            reasons.append(f"{loc.item.sop_uid}: {exc}")
            continue
        if "PixelData" in ds:
            return ds
        reasons.append(f"{loc.item.sop_uid}: no pixel data")
    raise not_acceptable("nothing here can be rendered (" + "; ".join(reasons[:5]) + ")")


def _image(ds: Dataset, wanted: Wanted, opts: rendering.Options, numbers: list[int]) -> bytes:
    pictures = [rendering.picture(ds, n - 1, opts) for n in numbers]
    return rendering.encode(pictures, wanted.media, opts, rendering.frame_time(ds))


def _check_frames(ds: Dataset, numbers: list[int]) -> None:
    count = frame_count(ds)
    for n in numbers:
        if n > count:
            raise HTTPProblem(404, f"frame {n} does not exist; the instance has {count} frame(s)")


def _pick(wanted: list[Wanted], several: bool) -> Wanted:
    for w in wanted:
        if w.multipart or not several or w.media == "image/gif":
            return w
    raise not_acceptable("several frames are rendered as multipart/related (type image/jpeg, image/png, image/gif "
                         "or image/jp2) or as one animated image/gif; ask for one of those, or for one frame")


def _multipart_body(parts: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = new_boundary()
    chunks = []
    for ctype, body in parts:
        chunks += [part_head(boundary, ctype), body, b"\r\n"]
    chunks.append(closing(boundary))
    return b"".join(chunks), boundary


def _instance_answer(ds: Dataset, wanted: list[Wanted], opts: rendering.Options,
                     numbers: list[int] | None) -> tuple[Wanted, list[bytes]]:
    count = frame_count(ds)
    if numbers is None:
        choice = _pick(wanted, False)
        if choice.multipart:
            return choice, [_image(ds, choice, opts, [n]) for n in range(1, count + 1)]
        every = list(range(1, count + 1)) if choice.media == "image/gif" else [1]
        return choice, [_image(ds, choice, opts, every)]
    _check_frames(ds, numbers)
    choice = _pick(wanted, len(numbers) > 1)
    if choice.multipart:
        return choice, [_image(ds, choice, opts, [n]) for n in numbers]
    return choice, [_image(ds, choice, opts, numbers)]


def _answer(choice: Wanted, images: list[bytes], opts: rendering.Options) -> Response:
    if not choice.multipart:
        return _warned(Response(images[0], media_type=choice.media), opts)
    body, boundary = _multipart_body([(choice.media, image) for image in images])
    return _warned(Response(body, media_type=f'multipart/related; type="{choice.media}"; boundary={boundary}'), opts)


async def retrieve_rendered(request: Request) -> Response:
    """``/studies/{study}[/series/{series}[/instances/{instance}[/frames/{frames}]]]/rendered``."""
    opts = _options(request)
    wanted = wanted_media(request)
    p = request.path_params
    numbers = parse_frame_list(p["frames"]) if "frames" in p else None
    ctx = _ctx(request)
    if p.get("instance"):
        def one() -> tuple[Wanted, list[bytes]]:
            located = retrieve.locate_instances(ctx, p["study"], p["series"], p["instance"])
            return _instance_answer(retrieve.load_dataset(located[0]), wanted, opts, numbers)
        choice, images = await run_in_threadpool(one)
        return _answer(choice, images, opts)
    choice = _pick(wanted, False)
    located = await run_in_threadpool(retrieve.locate_instances, ctx, p["study"], p.get("series", ""))
    if not choice.multipart:
        def single() -> bytes:
            ds = _first_image(located)
            every = list(range(1, frame_count(ds) + 1)) if choice.media == "image/gif" else [1]
            return _image(ds, choice, opts, every)
        return _answer(choice, [await run_in_threadpool(single)], opts)
    return await _stream_all(located, choice, opts, ctx)


def _render_all(loc: retrieve.Located, choice: Wanted, opts: rendering.Options) -> list[bytes]:
    ds = retrieve.load_dataset(loc)
    if "PixelData" not in ds:
        return []
    if choice.media == "image/gif" and frame_count(ds) > 1:
        return [_image(ds, choice, opts, list(range(1, frame_count(ds) + 1)))]
    return [_image(ds, choice, opts, [n]) for n in range(1, frame_count(ds) + 1)]


async def _stream_all(located: list[retrieve.Located], choice: Wanted, opts: rendering.Options,
                      ctx: WebContext) -> Response:
    """Every image of a series or study as a multipart stream; the first images are made
    before answering, so a resource with nothing to render gets 406, not an empty 200."""
    boundary = new_boundary()

    def render(index: int) -> list[bytes]:
        loc = located[index]
        try:
            return _render_all(loc, choice, opts)
        except (HTTPProblem, codec.CodecError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, HTTPProblem) else str(exc)
            ctx.logs.operator.printf(f"***rendered: {loc.item.sop_uid} left out: {reason}\n")
            return []

    first: list[bytes] = []
    index = 0
    while not first and index < len(located):
        first = await run_in_threadpool(render, index)
        index += 1
    if not first:
        raise not_acceptable("no instance here has pixel data that can be rendered")

    def parts(images: list[bytes]) -> bytes:
        return b"".join(part_head(boundary, choice.media) + image + b"\r\n" for image in images)

    async def generate():
        yield parts(first)
        for i in range(index, len(located)):
            yield parts(await run_in_threadpool(render, i))
        yield closing(boundary)

    return _warned(StreamingResponse(generate(), media_type=f'multipart/related; type="{choice.media}"; '
                                                            f"boundary={boundary}"), opts)


# -- thumbnails ---------------------------------------------------------------------------------
def thumbnail_bytes(ds: Dataset, media: str, opts: rendering.Options, frame: int, conquest: bool) -> bytes:
    """One thumbnail of frame ``frame`` (1-based)."""
    if conquest and media in CONQUEST_FORMATS:
        size = max(opts.viewport.width, opts.viewport.height) if opts.viewport else rendering.THUMBNAIL_SIZE
        try:
            return codec.render(ds, CONQUEST_FORMATS[media], frame=frame - 1, size=size)
        except codec.CodecError as exc:
            raise not_acceptable(f"cannot draw a thumbnail: {exc}")
    picture = rendering.picture(ds, frame - 1, opts, default_box=rendering.THUMBNAIL_SIZE)
    return rendering.encode([picture], media, opts)


def thumbnail_handler(conquest: bool = False):
    async def retrieve_thumbnail(request: Request) -> Response:
        """``…/thumbnail`` at every level, and Conquest's ``…/thumbnail/frames/{n}``."""
        opts = _options(request, thumbnail=True)
        choice = wanted_media(request, multipart_allowed=False)[0]
        p = request.path_params
        numbers = parse_frame_list(p["frames"]) if "frames" in p else [1]
        if len(numbers) != 1:
            raise HTTPProblem(400, "a thumbnail is of one frame")
        ctx = _ctx(request)

        def work() -> bytes:
            located = retrieve.locate_instances(ctx, p["study"], p.get("series", ""), p.get("instance", ""))
            ds = _first_image(located)
            _check_frames(ds, numbers)
            return thumbnail_bytes(ds, choice.media, opts, numbers[0], conquest)

        return Response(await run_in_threadpool(work), media_type=choice.media)
    return retrieve_thumbnail

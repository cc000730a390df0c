"""dgate's web server: DICOMweb (PS3.18), WADO-URI, Conquest's /api/dicom extensions,
our web UI and OHIF, on Starlette + uvicorn.

Entry points: the hub task ``web-server`` (:mod:`.task`; ``dgate -v`` starts it when
``WebPort`` is not 0), :func:`dgate.web.server.start_web` (returns a handle with ``stop()``)
and ``python3 -m dgate.web`` (on its own).

Modules: :mod:`.server` (start/stop), :mod:`.app` (mounts, middleware), :mod:`.dicomweb`
(QIDO/WADO/STOW routes), :mod:`.qido`, :mod:`.retrieve` (instances, bulk data, negotiation,
transcoding), :mod:`.frames` (frames, their media types and photometric), :mod:`.rendered`
and :mod:`.rendering` (rendered and thumbnail resources, the PS3.4 pipeline),
:mod:`.metadata` (cache), :mod:`.headerjson` and :mod:`.dicomjson` (DICOM JSON),
:mod:`.stow`, :mod:`.multipart`, :mod:`.wadouri` and :mod:`.wadoimage` (WADO-URI, images as
Conquest draws them and its anonymizer, shared with ``wadorequest:``), :mod:`.conquest`
(/api/dicom/rs extensions, zip/move scripts), :mod:`.scripts` (/rs/attach, /rs/attachdicom,
/rs/script, /rs/startscript in Lua), :mod:`.ui_api`, :mod:`.static`, :mod:`.security`, :mod:`.gzip`,
:mod:`.ingest_adapter` (the one call into the ingest pipeline), :mod:`.cgi` (dgate -y),
:mod:`.pages` (``webserver/htdocs`` as Ladle serves it: files, ``.lua``/``.lp``, newweb pages),
:mod:`.ohif` (setup command), :mod:`.settings`, :mod:`.context`.
"""

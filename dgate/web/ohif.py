"""``python3 -m dgate.web.ohif [-wFOLDER] [--version V] [--tarball FILE]``: install the OHIF
viewer (the built ``dist/`` of the npm package ``@ohif/app``) into
``<FOLDER>/webserver/ohif``, where the web server serves it at ``/app/ohif/``.

The package is built for the site root, so links are rewritten for ``/app/ohif/``:
``window.PUBLIC_URL`` and the absolute ``href``/``src`` of ``index.html``, webpack's public
path in the bundles, absolute ``url(/…)`` in the style sheets; ``app-config.js`` is
replaced by one for this server's DICOMweb (``/dicom-web``, includefield, WADO-RS rendering). Nothing is committed; the
package comes from the npm registry through ``npm pack`` (or a tarball you give).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OHIF_VERSION = "3.13.2"
MOUNT = "/app/ohif/"

APP_CONFIG = """/** OHIF configuration written by dgate (python3 -m dgate.web.ohif) for this server. */
window.config = {
  routerBasename: '%(mount)s',
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 25 },
  defaultDataSourceName: 'dgate',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dgate',
      configuration: {
        friendlyName: 'dgate DICOMweb',
        name: 'dgate',
        wadoUriRoot: window.location.origin + '/wado',
        qidoRoot: window.location.origin + '%(root)s',
        wadoRoot: window.location.origin + '%(root)s',
        qidoSupportsIncludeField: true,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'thumbnailDirect',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
"""


class OhifSetupError(RuntimeError):
    """The package could not be fetched or does not look like OHIF's built viewer."""


def fetch_tarball(version: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise OhifSetupError("npm is not installed (Debian: apt-get install npm)")
    result = subprocess.run([npm, "pack", f"@ohif/app@{version}", "--silent"], cwd=workdir,
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise OhifSetupError(f"npm pack @ohif/app@{version} failed: {result.stderr.strip()[-500:]}")
    found = sorted(workdir.glob("ohif-app-*.tgz"))
    if not found:
        raise OhifSetupError("npm pack produced no tarball")
    return found[-1]


def extract_dist(tarball: Path, target: Path) -> None:
    """Unpack ``package/dist/`` of the tarball into ``target`` (no path leaves it)."""
    staging = target.with_name(target.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.name.startswith("package/dist/") or not (member.isfile() or member.isdir()):
                continue
            relative = member.name[len("package/dist/"):]
            if not relative or ".." in relative.split("/") or relative.startswith("/"):
                continue
            dest = staging / relative
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is not None:
                dest.write_bytes(source.read())
                count += 1
    if not (staging / "index.html").is_file():
        shutil.rmtree(staging)
        raise OhifSetupError(f"{tarball} has no package/dist/index.html: not a built OHIF viewer")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def rewrite_for_mount(folder: Path, mount: str = MOUNT, root: str = "/dicom-web") -> None:
    index = folder / "index.html"
    html = index.read_text(encoding="utf-8")
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{mount}"')
    html = re.sub(r'(href|src)="/(?!/)', lambda m: f'{m.group(1)}="{mount}', html)
    index.write_text(html, encoding="utf-8")
    for script in folder.glob("*.js"):
        text = script.read_text(encoding="utf-8", errors="surrogateescape")
        changed = text.replace('__webpack_require__.p = "/";', f'__webpack_require__.p = "{mount}";')
        if changed != text:
            script.write_text(changed, encoding="utf-8", errors="surrogateescape")
    for sheet in folder.glob("*.css"):
        text = sheet.read_text(encoding="utf-8", errors="surrogateescape")
        changed = re.sub(r'url\((["\']?)/(?!/)', lambda m: f"url({m.group(1)}{mount}", text)
        if changed != text:
            sheet.write_text(changed, encoding="utf-8", errors="surrogateescape")
    manifest = folder / "manifest.json"
    if manifest.is_file():
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(re.sub(r'"(start_url|scope|src)":\s*"/(?!/)', lambda m: f'"{m.group(1)}": "{mount}',
                                   text), encoding="utf-8")
    (folder / "app-config.js").write_text(APP_CONFIG % {"mount": mount.rstrip("/"), "root": root},
                                          encoding="utf-8")


def install(base_dir: Path, version: str = OHIF_VERSION, tarball: Path | None = None) -> Path:
    """Install OHIF into ``<base_dir>/webserver/ohif``; returns that folder."""
    target = Path(base_dir) / "webserver" / "ohif"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        package = tarball or fetch_tarball(version, Path(work))
        extract_dist(Path(package), target)
    rewrite_for_mount(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m dgate.web.ohif", description=__doc__.split("\n\n")[0])
    parser.add_argument("-w", dest="folder", default=".", help="the dgate folder (default: current folder)")
    parser.add_argument("--version", default=OHIF_VERSION, help=f"@ohif/app version (default {OHIF_VERSION})")
    parser.add_argument("--tarball", type=Path, default=None, help="use this npm tarball instead of npm pack")
    args = parser.parse_args(argv)
    try:
        target = install(Path(args.folder).resolve(), args.version, args.tarball)
    except (OhifSetupError, OSError, tarfile.TarError) as exc:
        sys.stderr.write(f"dgate ohif: {exc}\n")
        return 1
    sys.stdout.write(f"OHIF installed in {target}; open http://<server>:<WebPort>{MOUNT}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

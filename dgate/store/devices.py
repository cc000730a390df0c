"""Storage devices from dicom.ini (conquest-storage.md §6.1).

``MAGDevice<n>`` are the on-line archive roots (``DeviceName`` ``MAG<n>`` in the
database), ``MIRRORDevice<n>`` mirror MAG n, ``CACHEDevice<n>`` and ``JUKEBOXDevice<n>``
are printf templates for archival media.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config.keys import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class Device:
    kind: str      # MAG, MIRROR, CACHE, JUKEBOX
    index: int
    root: str      # as configured (templates keep their % fields)

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"

    @property
    def path(self) -> Path:
        """The root with a trailing separator semantics (``GetPhysicalDevice``)."""
        return Path(self.root)


def devices(settings: Settings, kind: str = "MAG") -> list[Device]:
    """Configured devices of one kind, in index order (``<kind>Devices`` of them)."""
    count = settings.int(f"{kind}Devices")
    found = []
    for i in range(max(count, 0)):
        root = settings.str(f"{kind}Device{i}", "NULL")
        found.append(Device(kind, i, root))
    return found


def free_megabytes(path: str | os.PathLike) -> int:
    """Free space in MB for an unprivileged writer (statvfs ``f_bavail * f_frsize``)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return -1
    return int(st.f_bavail * st.f_frsize // MB)


def device_free_space(device: Device) -> int:
    root = device.root
    if device.kind in ("CACHE", "JUKEBOX") and "%" in root:
        root = os.path.dirname(root)
    return free_megabytes(root)


def free_space_report(settings: Settings) -> str:
    """Text of ``dgate -d`` (``PrintFreeSpace``)."""
    lines = ["** MAG DEVICE CHECK\n", "\n"]
    labels = {"MAG": "MAG  ", "MIRROR": "MIRROR", "CACHE": "CACHE"}
    for kind in ("MAG", "MIRROR", "CACHE"):
        for dev in devices(settings, kind):
            lines.append(f"Free space on {labels[kind]} Device {dev.index} := "
                         f"{device_free_space(dev)} MByte\n")
    return "".join(lines)


def device_root(settings: Settings, device: str) -> str | None:
    """The folder of a device name (``GetPhysicalDevice``): ``MAG0``, ``MAG0.Archiving``,
    ``MIRROR1``, ``CACHE0.<jukebox>.<cd>`` (template with two integers) or
    ``JUKEBOX1.<cd>`` (template with one integer)."""
    upper = device.upper()
    for kind in ("MIRROR", "MAG", "CACHE", "JUKEBOX"):
        if upper.startswith(kind):
            index, *numbers = device[len(kind):].split(".")
            if not index.isdigit():
                return None
            root = settings.str(f"{kind}Device{index}", "")
            if not root:
                return None
            if kind in ("CACHE", "JUKEBOX"):
                needed = 2 if kind == "CACHE" else 1
                ints = [int(n) for n in numbers if n.isdigit()][:needed]
                if len(ints) < needed:
                    return None
                try:
                    root = root % tuple(ints)
                except (TypeError, ValueError):
                    return None
            return root
    return None


def device_of(settings: Settings, path: str | os.PathLike) -> tuple[str, Path] | None:
    """(``MAG<n>``, root) of the MAG device whose folder holds ``path``, or None."""
    resolved = Path(path).resolve()
    for dev in devices(settings, "MAG"):
        root = Path(dev.root).resolve()
        if root == resolved or root in resolved.parents:
            return dev.name, root
    return None


def _jukebox_candidates(settings: Settings, device: str) -> list[str]:
    """JUKEBOX/CACHE names holding the same CD as ``device``."""
    upper = device.upper()
    parts = device.split(".")
    names: list[str] = []
    if upper.startswith("JUKEBOX") and len(parts) >= 2:
        jukebox, cd = parts[0][7:], parts[1]
        names += [f"JUKEBOX{d.index}.{cd}" for d in devices(settings, "JUKEBOX") if str(d.index) != jukebox]
        names += [f"CACHE{d.index}.{jukebox}.{cd}" for d in devices(settings, "CACHE")]
    elif upper.startswith("CACHE") and len(parts) >= 3:
        jukebox, cd = parts[1], parts[2]
        names += [f"JUKEBOX{jukebox}.{cd}"] + [f"JUKEBOX{d.index}.{cd}" for d in devices(settings, "JUKEBOX")]
        names += [f"CACHE{d.index}.{jukebox}.{cd}" for d in devices(settings, "CACHE")]
    return names


def locate(settings: Settings, device: str, object_file: str) -> Path | None:
    """``FindPhysicalDevice``: the recorded device; MAG → its MIRROR; JUKEBOX → the other
    jukeboxes and the CACHE copies; CACHE → the jukeboxes; then every MAG and MIRROR."""
    relative = object_file.replace("\\", "/")
    candidates = [device]
    if device.upper().startswith("MAG"):
        candidates.append("MIRROR" + device[3:].split(".")[0])
    candidates += _jukebox_candidates(settings, device)
    candidates += [d.name for d in devices(settings, "MAG")] + [d.name for d in devices(settings, "MIRROR")]
    for name in candidates:
        root = device_root(settings, name)
        if root:
            path = Path(root) / relative
            if path.is_file():
                return path
    return None

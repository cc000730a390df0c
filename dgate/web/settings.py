"""The web server's dicom.ini keys (our own; the original has Ladle's fixed port 8086).

``WebPort`` (8086; 0 = off), ``WebAddress`` (bind address, 127.0.0.1), ``WebRemoteAccess``
(0: clients not on this machine get 403), ``WebUsers`` (users file), ``WebAnonymousRole``,
``WebMaxUpload`` (MB), ``WebServerCommands`` (newweb pass-through), ``WebMetadataCache``,
and the original's ``WEBReadOnly``.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Configuration

ROLES = ("none", "read", "full")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    secret: str       # plain text, or ``sha256:<hex>``

    def matches(self, secret: str) -> bool:
        if self.secret.startswith("sha256:"):
            digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
            return hmac.compare_digest(digest, self.secret[7:].lower())
        return hmac.compare_digest(secret.encode("utf-8"), self.secret.encode("utf-8"))


class UsersFileError(ValueError):
    """A users file line that cannot be used."""


def load_users(path: Path | None) -> list[User]:
    """Users file: one ``name role secret`` per line; ``#`` starts a comment line."""
    if path is None or not str(path) or not path.is_file():
        return []
    users = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[1] not in ROLES[1:]:
            raise UsersFileError(f"{path}:{number}: expected 'name read|full secret'")
        users.append(User(parts[0], parts[1], parts[2]))
    return users


@dataclass
class WebSettings:
    port: int = 8086
    address: str = "127.0.0.1"
    remote_access: bool = False
    users: list[User] = field(default_factory=list)
    anonymous_role: str = "full"
    max_upload: int = 1024 * 1024 * 1024
    server_commands: bool = False
    ladle_routes: bool = False
    read_only: bool = False
    metadata_cache: int = 20000
    base_dir: Path = Path(".")

    @classmethod
    def from_config(cls, config: Configuration) -> WebSettings:
        s = config.settings
        users_path = s.path("WebUsers") if s.str("WebUsers") else None
        role = s.str("WebAnonymousRole").strip().lower() or "full"
        if role not in ROLES:
            raise UsersFileError(f"WebAnonymousRole = {role}: expected none, read or full")
        return cls(port=s.int("WebPort"), address=s.str("WebAddress").strip() or "127.0.0.1",
                   remote_access=bool(s.int("WebRemoteAccess")), users=load_users(users_path),
                   anonymous_role=role, max_upload=max(s.int("WebMaxUpload"), 1) * 1024 * 1024,
                   server_commands=bool(s.int("WebServerCommands")),
                   ladle_routes=bool(s.int("WebLadleRoutes")), read_only=bool(s.int("WEBReadOnly")),
                   metadata_cache=s.int("WebMetadataCache"), base_dir=Path(config.base_dir))

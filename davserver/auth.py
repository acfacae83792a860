"""WebDAV authentication: a WsgiDAV domain controller asking the users directory."""

from __future__ import annotations

from typing import Any

from wsgidav.dc.base_dc import BaseDomainController

from stores import ANONYMOUS
from stores.users import UserDirectory

REALM = "assetdav"


class UsersDomainController(BaseDomainController):
    """HTTP Basic against the users file. With no users configured, everyone is the
    anonymous admin (the server only allows that on loopback unless told otherwise)."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.users: UserDirectory = config["assetdav_users"]

    def __str__(self) -> str:
        return f"UsersDomainController({self.users.path})"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any]) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        if self.users.has_users():
            return True
        if environ is not None:
            environ["assetdav.actor"] = ANONYMOUS
        return False

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any]
    ) -> bool:
        actor = self.users.authenticate(user_name, password, environ.get("REMOTE_ADDR", "-"))
        if actor is None:
            return False
        environ["assetdav.actor"] = actor
        return True

    def supports_http_digest_auth(self) -> bool:
        # Digest would need a password-equivalent MD5 per user on disk; we keep only
        # salted hashes, so Basic it is (use HTTPS in front for real deployments).
        return False

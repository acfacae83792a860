"""WebDAV authentication: a WsgiDAV domain controller asking the users directory (HTTP
Basic), or taking the asset browser's signed-in cookie, so the page's download links work
without a second sign-in."""

from __future__ import annotations

from typing import Any

from werkzeug.http import parse_cookie
from wsgidav.dc.base_dc import BaseDomainController

from stores import ANONYMOUS, GUEST
from stores.tokens import TokenInvalid, TokenSigner
from stores.users import UserDirectory

REALM = "assetdav"
GUEST_METHODS = ("GET", "HEAD", "OPTIONS", "PROPFIND")
COOKIE = "AUTH_TOKEN"  # set by POST /api/auth with cookie: true (HttpOnly, SameSite=Strict)


class UsersDomainController(BaseDomainController):
    """HTTP Basic against the users file. With no users configured, everyone is the
    anonymous admin (the server only allows that on loopback unless told otherwise)."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.users: UserDirectory = config["assetdav_users"]
        self.tokens: TokenSigner | None = config.get("assetdav_tokens")
        self.anonymous_read: bool = bool(config.get("assetdav_anonymous_read"))

    def __str__(self) -> str:
        return f"UsersDomainController({self.users.path})"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any]) -> str:
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        if self.users.has_users():
            if self._signed_in_by_cookie(environ):
                return False
            if self._guest_may_read(environ):
                environ["assetdav.actor"] = GUEST  # type: ignore[index]
                return False
            return True
        if environ is not None:
            environ["assetdav.actor"] = ANONYMOUS
        return False

    def _guest_may_read(self, environ: dict[str, Any] | None) -> bool:
        """With allow_anonymous_read, a read without credentials is a guest's (public
        projects only); anything else asks for credentials (401), so a client that
        writes is prompted to sign in."""
        return (
            environ is not None
            and self.anonymous_read
            and not environ.get("HTTP_AUTHORIZATION")
            and environ.get("REQUEST_METHOD") in GUEST_METHODS
        )

    def _signed_in_by_cookie(self, environ: dict[str, Any] | None) -> bool:
        """A request without credentials carrying the pages' valid token cookie acts as
        its user (a bad or expired one is ignored: Basic is asked for as usual)."""
        if environ is None or self.tokens is None or environ.get("HTTP_AUTHORIZATION"):
            return False
        token = parse_cookie(environ.get("HTTP_COOKIE", "")).get(COOKIE)
        if not token:
            return False
        try:
            user = self.users.get(self.tokens.verify(token))
        except TokenInvalid:
            return False
        if user is None:
            return False
        environ["assetdav.actor"] = user.actor()
        return True

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

"""Who may see and do what on the dashboard: token sign-in, the session cookie, roles and CSRF.

A token (`slaclock admin token NAME --role …`) is exchanged once for a signed Flask session cookie holding the
token's id, so revoking the token ends the session at its next request. The cookie is HttpOnly, SameSite=Lax,
and Secure when the request came over https (directly or through a proxy that says so in X-Forwarded-Proto).
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from functools import wraps
from typing import Callable

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from web import store

logger = logging.getLogger("slaclock.admin")

ROLES = ("executive", "manager", "admin")
# What each role may do beyond reading: executives read only, managers retry, admins everything.
MAY = {"executive": frozenset(), "manager": frozenset({"retry"}), "admin": frozenset({"retry", "manage"})}
CSRF_FIELD = "csrf_token"
# A signed-in session lasts a working day; signing in again issues a new one.
SESSION_HOURS = 12


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: the token's name and role."""

    token_id: int
    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in MAY.get(self.role, frozenset())


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with the Secure flag set per request (https, or a proxy's word for it)."""

    # Every request opens and saves a session, the webhooks and health checks too. Without a session cookie the
    # session is empty: no signer is built and nothing is saved (Flask builds a serializer every time).
    def open_session(self, app: Flask, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:
            response.vary.add("Cookie")

    def get_cookie_secure(self, app: Flask) -> bool:
        return app.config.get("SESSION_COOKIE_SECURE") or request.is_secure or \
            request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def configure(app: Flask) -> None:
    """Set the app's session up for the dashboard: secret key, cookie flags, per-request Secure."""
    from datetime import timedelta

    secret = os.environ.get("SLACLOCK_SECRET_KEY", "").strip()
    if not app.config.get("SECRET_KEY"):
        if not secret:
            # The key made here is shared by gunicorn's workers (they fork after the app is built) and is lost
            # at a restart, which signs everyone out.
            logger.warning("admin.no-secret-key", extra={"hint": "set SLACLOCK_SECRET_KEY to keep sessions "
                                                                  "across restarts"})
        app.config["SECRET_KEY"] = secret or secrets.token_hex(32)
    app.config.setdefault("SESSION_COOKIE_NAME", "slaclock_admin")
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))
    app.session_interface = AdminSessionInterface()


def csrf_token() -> str:
    """This session's CSRF token (made on first use): every form carries it, every POST must send it back."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """403 unless a POST carries this session's CSRF token."""
    sent, expected = request.form.get(CSRF_FIELD, ""), session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, "the form's CSRF token is missing or stale: reload the page and try again")


def sign_in(token: str) -> Viewer | None:
    """Start a session for `token` (a fresh session: no id or CSRF token survives from before); None if unknown."""
    found = store().admin_for_token(token.strip()) if token.strip() else None
    if found is None:
        return None
    session.clear()
    session.permanent = True
    session["token_id"] = found.id
    csrf_token()
    return Viewer(found.id, found.name, found.role)


def viewer() -> Viewer | None:
    """The signed-in viewer, checked against the store (a revoked token signs its sessions out)."""
    if "viewer" not in g:
        token_id = session.get("token_id")
        found = store().admin_token(token_id) if isinstance(token_id, int) else None
        g.viewer = Viewer(found.id, found.name, found.role) if found and found.role in ROLES else None
    return g.viewer


def signed_in(action: str | None = None) -> Callable:
    """A view for signed-in viewers (others go to the sign-in page); with `action`, only for roles that may do it
    (403 for the rest). POSTs are CSRF-checked."""
    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            who = viewer()
            if who is None:
                return redirect(url_for("admin.sign_in_page", next=request.full_path if request.method == "GET"
                                        else None))
            if request.method == "POST":
                check_csrf()
            if action is not None and not who.may(action):
                abort(403, f"a {who.role} may not {action}")
            return view(*args, **kwargs)
        return guarded
    return wrap


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path under /admin only (never another site)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.queue")



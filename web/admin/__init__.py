"""The admin dashboard under /admin: the at-risk queue, a ticket's timeline and explanation, KPI charts, and
parked writes and failed deliveries to retry. Server-rendered (Jinja), charts as server-side SVG, its CSS and
the countdown script served from `static/` (no CDN). Access: `web.admin.access`."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")

from web.admin import views  # noqa: E402,F401 - the routes register themselves on `bp`

"""The dashboard's pages. Every view is behind `access.signed_in`; retries need the retry right."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Forbidden

from alerts.events import ticket_url
from jobs.explain import clock_lines, format_timeline
from reports.history import case_histories, report_options
from reports.kpis import Period, report
from rules.attribution import time_by_holder
from rules import Rules
from rules.decision import CaseMemory
from rules.wording import count
from web import connectors, now, store
from web.admin import access, bp
from web.admin.charts import bar_chart
from web.admin.queue import queue_rows

# The KPI page's default span, in weeks, and the most it will compute (one report per week).
DEFAULT_WEEKS, MAX_WEEKS = 8, 52


@bp.record_once
def _configure(state) -> None:
    access.configure(state.app)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": access.csrf_token, "viewer": access.viewer, "iso": iso}


@bp.errorhandler(Forbidden)
def _forbidden(error: Forbidden) -> ResponseReturnValue:
    return render_template("admin/forbidden.html", reason=error.description), 403


# --- access ------------------------------------------------------------------------------------------

@bp.get("/sign-in")
def sign_in_page() -> ResponseReturnValue:
    return render_template("admin/sign_in.html", next=request.args.get("next", ""), error=None)


@bp.post("/sign-in")
def sign_in() -> ResponseReturnValue:
    access.check_csrf()
    who = access.sign_in(request.form.get("token", ""))
    if who is None:
        # The same page and no hint of which part was wrong; never a page of data.
        return render_template("admin/sign_in.html", next=request.form.get("next", ""),
                               error="That token is not recognised (it may have been revoked)."), 401
    return redirect(access.safe_next(request.form.get("next")))


@bp.post("/sign-out")
@access.signed_in()
def sign_out() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("admin.sign_in_page"))


# --- pages -------------------------------------------------------------------------------------------

def _links(keys: list[tuple[str, str]]) -> dict[str, str | None]:
    known = connectors()
    return {f"{c}:{t}": ticket_url(known.get(c), c, t) for c, t in keys}


def _rules() -> Rules | None:
    """The rules the dashboard reads: the rules file's latest valid version when serve watches it (RULES_FILE)."""
    watched = current_app.config.get("RULES_FILE")
    if watched is None:
        return current_app.config.get("RULES")
    watched.poll()
    return watched.rules


@bp.get("/")
@access.signed_in()
def queue() -> ResponseReturnValue:
    at = now()
    cases = store().open_cases()
    rules = _rules()
    rows = queue_rows(cases, at, _links([(c.connector, c.ticket_id) for c in cases]),
                      rules.team_title if rules is not None else str)
    return render_template("admin/queue.html", rows=rows, now=at)


@bp.get("/tickets/<connector>/<path:ticket_id>")
@access.signed_in()
def ticket(connector: str, ticket_id: str) -> ResponseReturnValue:
    key = f"{connector}:{ticket_id}"
    try:
        explanation = format_timeline(store(), key)
    except (ValueError, LookupError):
        abort(404)
    rules = _rules()
    clock = clock_lines(store(), rules, key, now()) if rules is not None else []
    case = store().get_case(connector, ticket_id)
    opened = (case.snapshot or {}).get("opened_at") if case is not None else None
    held = time_by_holder(rules, CaseMemory.from_json(case.memory), datetime.fromisoformat(opened), now()) \
        if rules is not None and opened else ()
    team = case.team if case is not None else None
    return render_template("admin/ticket.html", key=key, case=case, entries=store().timeline(connector, ticket_id),
                           team=rules.team_title(team) if rules is not None and team else team,
                           explanation=explanation, clock=clock, held=held, url=_links([(connector, ticket_id)])[key])


def _report_options() -> dict[str, Any]:
    """The stop statuses and update cadence of the rules, as `slaclock report` passes them."""
    rules = _rules()
    if rules is None:
        return {}
    return report_options(rules)


@bp.get("/kpis")
@access.signed_in()
def kpis() -> ResponseReturnValue:
    weeks = request.args.get("weeks", DEFAULT_WEEKS, type=int)
    weeks = min(max(weeks or DEFAULT_WEEKS, 1), MAX_WEEKS)
    at = now()
    monday = (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    cases, options = case_histories(store()), _report_options()
    weekly = [report(cases, Period(s, min(s + timedelta(weeks=1), at)), **options) for s in starts]
    whole = report(cases, Period(starts[0], at), **options)
    labels = [f"{s:%d %b}" for s in starts]
    dwell = sorted(whole.dwell_per_level.items())
    csat = whole.csat.to_json()
    charts = [
        ("Breach rate by week", "Breached ÷ measured SLA clocks of the cases opened that week.",
         bar_chart("Breach rate by week", labels, [None if r.breach_rate is None else 100 * r.breach_rate
                                                   for r in weekly], unit="%", digits=0)),
        ("Breaches averted by week", "A warning or escalation fired and the SLA was met.",
         bar_chart("Breaches averted by week", labels, [r.breaches_averted for r in weekly], digits=0)),
        ("Escalations per 1,000 tickets by week", "Cases escalated per 1,000 opened that week.",
         bar_chart("Escalations per 1,000 tickets by week", labels, [r.escalations_per_1000 for r in weekly])),
        ("Dwell per ladder level", "Mean hours a case stayed on each level.",
         bar_chart("Dwell per ladder level", [level for level, _ in dwell], [d.mean_hours for _, d in dwell],
                   unit=" h")),
        ("Satisfied customers by week", "Good ratings (Zendesk good; JSM 4 or 5) ÷ rated cases opened that week.",
         bar_chart("Satisfied customers by week", labels, [None if r.csat.good_share is None
                                                            else 100 * r.csat.good_share for r in weekly],
                   unit="%", digits=0)),
        ("CSAT scores", "Rated cases by their latest 1-5 score (JSM feedback).",
         bar_chart("CSAT scores", list(csat["distribution"]), list(csat["distribution"].values()), digits=0)),
    ]
    return render_template("admin/kpis.html", charts=charts, whole=whole, csat=csat, since=starts[0], until=at,
                           weeks=weeks)


@bp.get("/parked")
@access.signed_in()
def parked() -> ResponseReturnValue:
    return render_template("admin/parked.html", parked=store().parked(), failed=store().failed_deliveries())


def _ids() -> list[int]:
    try:
        return [int(v) for v in request.form.getlist("id")]
    except ValueError:
        abort(400, "expected row ids")


def _queued_again(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'} queued again"


@bp.post("/parked/retry")
@access.signed_in("retry")
def retry_parked() -> ResponseReturnValue:
    ids = _ids()
    flash(_queued_again(store().retry_parked(ids or None, now()), "parked write"))
    return redirect(url_for("admin.parked"))


@bp.post("/deliveries/retry")
@access.signed_in("retry")
def retry_deliveries() -> ResponseReturnValue:
    ids = _ids()
    flash(_queued_again(store().retry_deliveries(ids or None), "failed delivery", "failed deliveries"))
    return redirect(url_for("admin.parked"))


@bp.get("/tokens")
@access.signed_in("manage")
def tokens() -> ResponseReturnValue:
    return render_template("admin/tokens.html", tokens=store().admin_tokens())


@bp.post("/tokens/revoke")
@access.signed_in("manage")
def revoke_token() -> ResponseReturnValue:
    name = request.form.get("name", "")
    flash(f"{count(store().revoke_admin_tokens(name), 'token')} of {name} revoked")
    return redirect(url_for("admin.tokens"))


def iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""

"""What both helpdesks' APIs share: route tables, JSON answers, and the guard every API call passes.

Each helpdesk package lists its endpoints in one table (`ROUTES` in its `api.py`) and describes itself as a
`Helpdesk`; the app serves every table and runs `guard` before each call under a helpdesk's prefix. A new
endpoint is a row in its helpdesk's table; a check every call must pass belongs in `guard`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from flask import Blueprint, Response, jsonify, request

from sandbox.auth import basic_auth_matches
from sandbox.faults import DROP_ANSWER, FaultAnswer, FaultBook
from sandbox.site import HelpdeskSite


@dataclass(frozen=True)
class Route:
    """One API operation: HTTP method, Flask rule and view."""

    method: str
    rule: str
    view: Callable[..., Any]


def blueprint(name: str, routes: Iterable[Route], suffixes: tuple[str, ...] = ("",)) -> Blueprint:
    """A blueprint serving each route at its rule and at the rule plus each suffix."""
    bp = Blueprint(name, __name__)
    for route in routes:
        for suffix in suffixes:
            bp.add_url_rule(route.rule + suffix, route.view.__name__, route.view, methods=[route.method])
    return bp


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


@dataclass(frozen=True)
class Helpdesk:
    """One fake helpdesk's HTTP side: `name` (its site's key on the Sandbox), the API `prefix` the guard covers,
    its API and /_sandbox control blueprints, and the answers the guard and unknown paths get in its shape."""

    name: str
    prefix: str
    api: Blueprint
    control: Blueprint
    not_authenticated: Callable[[], Response]
    fault_answer: FaultAnswer
    not_found: Callable[[], Response]
    contract_violation: Callable[[Any], Response]


def guard(helpdesk: Helpdesk, site: HelpdeskSite, faults: FaultBook) -> Response | None:
    """Count the call, serve an injected fault if one matches, then require the site's basic auth.

    A `drop_answer` fault only marks the call: it is served as usual and `faults.DropAnswers` drops its answer."""
    site.stats.record(request.method, request.path)
    fault = faults.take(request.method, request.path, helpdesk.name)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop_answer:
            request.environ[DROP_ANSWER] = True
        answer = fault.response(request.method, request.path, helpdesk.fault_answer)
        if answer is not None:
            text, status, headers = answer
            return Response(text, status=status, headers=headers)
    if not basic_auth_matches(request.headers.get("Authorization", ""), site.credentials):
        return helpdesk.not_authenticated()
    return None

"""Every write lands exactly once (issue 10): the five duplicate scenarios, retries until a horizon, refusals.

Client-level scenarios run the real connectors against small stateful helpdesks built on `responses`
callbacks (a write is applied, then its answer lost); pipeline scenarios use FakeConnector. Clocks are injected.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from connectors.errors import OutcomeUnknown, PermanentError, RetryableError
from connectors.http import HelpdeskSession
from connectors.model import FollowUp, TicketUpdate
from connectors.plan import follow_up_to_json, update_to_json
from jira.client import JiraClient, adf
from jira.connector import FOLLOW_UP_GRACE_SECONDS, JiraConnector
from jira.mapping import note_ref
from jira.settings import JiraSettings
from jobs.deliverer import RETRY_CAP_SECONDS, RETRY_HORIZON, Deliverer
from jobs.processor import Processor
from jobs.reconciler import Reconciler
from rules import load_rules
from store.sqlite import STALE_CLAIM_SECONDS
from tests.fakes import Clock, Crash, FakeConnector, retryable, rules_with_routing_notes
from zendesk.connector import ZendeskConnector
from zendesk.settings import ZendeskSettings

store = pytest.fixture(lambda any_store: any_store, name="store")  # every test here runs on SQLite and on PostgreSQL

NOW = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


def queue(store, kind, payload, key, connector="zendesk", ticket_id="5158", cluster_key=None):
    with store.write_txn() as txn:
        txn.add_outbox(connector=connector, ticket_id=ticket_id, kind=kind, payload=payload, now=NOW, idem_key=key,
                       cluster_key=cluster_key)


def row_of(store, key):
    return next(r for r in store.db.execute("select status, next_attempt_at, progress_json, attempts from outbox "
                                            "where idem_key = ?", [key]))


# --- a stateful Zendesk over `responses` -------------------------------------------------------------

ZD = "https://acme.zendesk.com"
ZD_ME = 8447388090777
ZD_SETTINGS = ZendeskSettings(base_url=ZD, email="slaclock@acme.test", api_token="tok-123",
                              webhook_secrets=("s",), reason_field_id="360001", due_field_id="360002")


class ZendeskSite:
    """Tickets' comments and audits as Zendesk keeps them; `lose` answers are replaced by these failures
    after the write was applied (`refuse`: before, so nothing is applied)."""

    def __init__(self, lose=(), refuse=()):
        self.comments: list[dict] = []
        self.audits: dict[int, dict] = {}
        self.tickets: list[dict] = []
        self.lose, self.refuse = list(lose), list(refuse)
        self.writes = 0
        responses.get(f"{ZD}/api/v2/users/me.json", json={"user": {"id": ZD_ME}})
        responses.add_callback(responses.PUT, f"{ZD}/api/v2/tickets/5158.json", callback=self.put)
        responses.add_callback(responses.GET, f"{ZD}/api/v2/tickets/5158/comments.json", callback=self.recent)
        responses.add_callback(responses.GET, re.compile(rf"{ZD}/api/v2/tickets/5158/audits/\d+\.json"),
                               callback=self.audit)
        responses.add_callback(responses.POST, f"{ZD}/api/v2/tickets.json", callback=self.create)
        responses.add_callback(responses.GET, f"{ZD}/api/v2/tickets.json", callback=self.by_external_id)

    def _answer(self, body):
        return self.lose.pop(0) if self.lose else (200, {}, json.dumps(body))

    def put(self, request):
        if self.refuse:
            return self.refuse.pop(0)
        ticket = json.loads(request.body)["ticket"]
        self.writes += 1
        audit_id = 7000 + len(self.audits)
        self.audits[audit_id] = {"id": audit_id, "ticket_id": 5158, "author_id": ZD_ME,
                                 "created_at": "2026-03-02T14:05:09Z",
                                 "metadata": {"custom": ticket.get("metadata", {}), "system": {}}}
        if "comment" in ticket:
            self.comments.append({"id": 9000 + len(self.comments), "author_id": ZD_ME, "audit_id": audit_id,
                                  "body": ticket["comment"]["body"], "public": ticket["comment"]["public"]})
        return self._answer({"ticket": {"id": 5158, "updated_at": "2026-03-02T14:05:09Z"}})

    def recent(self, request):
        assert request.params == {"sort": "-created_at", "page[size]": "10"}
        newest = list(reversed(self.comments))[:10]
        # Someone else's comment comes first: only our own are looked into.
        newest.insert(0, {"id": 1, "author_id": 111, "audit_id": 1, "body": "agent", "public": True})
        return 200, {}, json.dumps({"comments": newest, "meta": {"has_more": False}})

    def audit(self, request):
        audit_id = int(request.path_url.rsplit("/", 1)[1].removesuffix(".json"))
        return 200, {}, json.dumps({"audit": self.audits[audit_id]})

    def create(self, request):
        ticket = {"id": 6001 + len(self.tickets), **json.loads(request.body)["ticket"]}
        self.tickets.append(ticket)
        return self._answer({"ticket": ticket})

    def by_external_id(self, request):
        found = [t for t in self.tickets if t.get("external_id") == request.params["external_id"]]
        return 200, {}, json.dumps({"tickets": found})


@pytest.fixture
def zendesk():
    session = HelpdeskSession(ZD, auth=("slaclock@acme.test/token", "tok-123"), sleep=lambda s: None)
    return ZendeskConnector(ZD_SETTINGS, session=session)


NOTE = TicketUpdate(ticket_id="5158", version="2026-03-02T14:00:00Z", priority="high", note="slaclock: escalated.")


@pytest.mark.parametrize("lost", [requests.exceptions.ConnectionError("Connection reset by peer"),
                                  requests.exceptions.ReadTimeout("read timed out"),
                                  (502, {}, "Bad Gateway")], ids=["reset", "read-timeout", "502"])
@responses.activate
def test_zendesk_note_whose_answer_was_lost_is_read_back_not_sent_again(store, zendesk, lost):
    site = ZendeskSite(lose=[lost])
    queue(store, "ticket_update", update_to_json(NOTE), "slaclock-zendesk-5158-a")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": zendesk}, clock)
    deliverer.run_once()
    status, next_at, progress, _ = row_of(store, "slaclock-zendesk-5158-a")
    assert status == "pending" and json.loads(progress)["update"]["state"] == "sending"
    assert datetime.fromisoformat(next_at) > NOW, "requeued with a backoff, not at once"
    clock.advance(minutes=1)
    deliverer.run_once()
    assert site.writes == 1 and len(site.comments) == 1
    status, _, progress, _ = row_of(store, "slaclock-zendesk-5158-a")
    assert status == "done" and json.loads(progress)["update"]["read_back"] is True
    put = next(c.request for c in responses.calls if c.request.method == "PUT")
    sent = json.loads(put.body)["ticket"]
    assert sent["metadata"] == {"slaclock": {"outbox": "slaclock-zendesk-5158-a"}}
    assert sent["safe_update"] is True and "Idempotency-Key" not in put.headers


@responses.activate
def test_zendesk_note_not_found_on_read_back_is_sent_once_more(store, zendesk):
    # The request never reached Zendesk, though the client could not know: read back, absent, send.
    site = ZendeskSite(refuse=[requests.exceptions.ReadTimeout("read timed out")])
    queue(store, "ticket_update", update_to_json(NOTE), "slaclock-zendesk-5158-b")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": zendesk}, clock)
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    assert site.writes == 1 and row_of(store, "slaclock-zendesk-5158-b")[0] == "done"


@responses.activate
def test_zendesk_public_reply_goes_through_the_same_safe_path(store, zendesk):
    site = ZendeskSite(lose=[requests.exceptions.ConnectionError("reset")])
    queue(store, "public_reply", {"text": "We are on it."}, "slaclock-zendesk-5158-reply")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": zendesk}, clock)
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    assert [(c["body"], c["public"]) for c in site.comments] == [("We are on it.", True)]
    assert row_of(store, "slaclock-zendesk-5158-reply")[0] == "done"


@responses.activate
def test_zendesk_follow_up_whose_answer_was_lost_is_found_by_its_external_id(store, zendesk):
    site = ZendeskSite(lose=[requests.exceptions.ReadTimeout("read timed out")])
    follow_up = FollowUp(original_id="5158", subject="Tech lead: #5158", body="Urgent for 60 min.")
    queue(store, "follow_up", follow_up_to_json(follow_up), "slaclock-zendesk-5158-milestone:tech_lead:1")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"zendesk": zendesk}, clock)
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    assert [t["external_id"] for t in site.tickets] == ["slaclock-zendesk-5158-milestone:tech_lead:1"]
    assert row_of(store, "slaclock-zendesk-5158-milestone:tech_lead:1")[0] == "done"
    post = next(c.request for c in responses.calls if c.request.method == "POST")
    assert post.headers["Idempotency-Key"] == "slaclock-zendesk-5158-milestone:tech_lead:1"
    assert "created linked ticket zendesk:6001" in store.timeline("zendesk", "5158")[-1].summary


@responses.activate
def test_zendesk_system_actor_has_no_groups_and_costs_no_call(zendesk):
    assert zendesk.actor_groups("-1") == frozenset() and zendesk.actor_groups("bot") == frozenset()
    assert len(responses.calls) == 0


# --- a stateful Jira over `responses` ------------------------------------------------------------------

JIRA = "https://acme-support.atlassian.net"
JIRA_ME = "712020:bot"
ISSUE = f"{JIRA}/rest/api/3/issue/SD-42"
JIRA_ENV = {"JIRA_URL": JIRA, "JIRA_EMAIL": "slaclock@acme.example", "JIRA_API_TOKEN": "tok-123",
            "JIRA_DUE_FIELD_ID": "customfield_10060"}


class JiraSite:
    """One JSM request's comments, watchers, links and created issues."""

    def __init__(self, lose=(), refuse_watchers=(), index_lag=0):
        self.comments: list[dict] = []
        self.watchers: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.issues: list[dict] = []
        self.lose, self.refuse_watchers = list(lose), set(refuse_watchers)
        self.index_lag = index_lag  # searches that do not see a new issue yet
        self.order: list[str] = []
        responses.get(f"{JIRA}/rest/api/3/myself", json={"accountId": JIRA_ME})
        responses.put(ISSUE, status=204)
        responses.get(ISSUE, json={"key": "SD-42", "fields": {"created": "2026-03-02T09:00:00.000+0000",
                                                             "updated": "2026-03-02T14:05:09.000+0000",
                                                             "status": {"name": "Open"}}})
        responses.add_callback(responses.POST, f"{JIRA}/rest/servicedeskapi/request/SD-42/comment", callback=self.jsm)
        responses.add_callback(responses.POST, f"{ISSUE}/comment", callback=self.platform)
        responses.add_callback(responses.GET, f"{ISSUE}/comment", callback=self.recent)
        responses.add_callback(responses.POST, f"{JIRA}/rest/api/3/comment/list", callback=self.by_ids)
        responses.add_callback(responses.POST, f"{ISSUE}/watchers", callback=self.watch)
        responses.add_callback(responses.POST, f"{JIRA}/rest/api/3/issue", callback=self.create)
        responses.add_callback(responses.POST, f"{JIRA}/rest/api/3/search/jql", callback=self.search)
        responses.add_callback(responses.POST, f"{JIRA}/rest/api/3/issueLink", callback=self.link)

    def _answer(self, status, body):
        return self.lose.pop(0) if self.lose else (status, {}, json.dumps(body) if body is not None else "")

    def _comment(self, text_or_adf, public, properties=()):
        comment = {"id": str(10000 + len(self.comments)), "author": {"accountId": JIRA_ME},
                   "body": text_or_adf if isinstance(text_or_adf, dict) else adf(text_or_adf),
                   "jsdPublic": public, "properties": list(properties)}
        self.comments.append(comment)
        self.order.append("comment")
        return comment

    def jsm(self, request):
        body = json.loads(request.body)
        assert set(body) == {"body", "public"}, "servicedeskapi takes body and public only"
        comment = self._comment(body["body"], body["public"])
        return self._answer(201, {"id": comment["id"]})

    def platform(self, request):
        body = json.loads(request.body)
        internal = {"key": "sd.public.comment", "value": {"internal": True}} in body.get("properties", [])
        comment = self._comment(body["body"], not internal, body.get("properties", []))
        self.order.append("public" if not internal else "internal")
        return self._answer(201, {"id": comment["id"]})

    def recent(self, request):
        assert request.params == {"orderBy": "-created", "maxResults": "20"}
        newest = [{k: v for k, v in c.items() if k != "properties"} for c in reversed(self.comments)]
        return 200, {}, json.dumps({"startAt": 0, "maxResults": 20, "total": len(newest), "comments": newest})

    def by_ids(self, request):
        assert request.params == {"expand": "properties"}
        ids = json.loads(request.body)["ids"]
        assert all(isinstance(i, int) for i in ids)
        values = [c for c in self.comments if int(c["id"]) in ids]
        return 200, {}, json.dumps({"isLast": True, "maxResults": 50, "startAt": 0, "total": len(values),
                                    "values": values})

    def watch(self, request):
        account = json.loads(request.body)
        if account in self.refuse_watchers:
            return 404, {}, json.dumps({"errorMessages": [], "errors": {}})
        self.watchers.append(account)
        return 204, {}, ""

    def create(self, request):
        fields = json.loads(request.body)["fields"]
        issue = {"id": str(10077 + len(self.issues)), "key": f"SD-{77 + len(self.issues)}", "fields": fields}
        self.issues.append(issue)
        return self._answer(201, {"id": issue["id"], "key": issue["key"], "self": "x"})

    def search(self, request):
        label = re.fullmatch(r'labels = "(.+)"', json.loads(request.body)["jql"]).group(1)
        if self.index_lag:
            self.index_lag -= 1
            return 200, {}, json.dumps({"issues": [], "isLast": True})
        found = [{"key": i["key"]} for i in self.issues if label in i["fields"]["labels"]]
        return 200, {}, json.dumps({"issues": found, "isLast": True})

    def link(self, request):
        body = json.loads(request.body)
        assert "comment" not in body, "a link sent with a comment would post the comment on every resend"
        self.links.append((body["inwardIssue"]["key"], body["outwardIssue"]["key"]))
        return 201, {}, ""


@pytest.fixture
def jira():
    session = HelpdeskSession(JIRA, auth=("slaclock@acme.example", "tok-123"), sleep=lambda s: None)
    return JiraConnector(JiraSettings.from_env(JIRA_ENV), session=session)


@responses.activate
def test_jira_internal_note_whose_answer_was_lost_is_read_back_by_its_ref_line(store, jira):
    site = JiraSite(lose=[requests.exceptions.ReadTimeout("read timed out")])
    key = "slaclock-jira-SD-42-n1"
    queue(store, "ticket_update", update_to_json(TicketUpdate(ticket_id="SD-42", note="slaclock: escalated.")),
          key, connector="jira", ticket_id="SD-42")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"jira": jira}, clock)
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    (note,) = site.comments
    text = "\n".join(p["content"][0]["text"] for p in note["body"]["content"])
    assert text == f"slaclock: escalated.\n{note_ref(key)}"
    assert re.fullmatch(r"ref [a-z2-7]{10}", note_ref(key)) and note_ref(key) != note_ref(key + "x")
    assert row_of(store, key)[0] == "done"


@responses.activate
def test_jira_public_reply_is_a_platform_comment_marked_by_a_property_and_read_back(store, jira):
    site = JiraSite(lose=[(503, {}, "Service Unavailable")])
    key = "slaclock-jira-SD-42-reply"
    queue(store, "public_reply", {"text": "We are on it."}, key, connector="jira", ticket_id="SD-42")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"jira": jira}, clock)
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    (reply,) = site.comments
    assert reply["jsdPublic"] is True and reply["properties"] == [{"key": "slaclock", "value": {"outbox": key}}]
    assert row_of(store, key)[0] == "done"
    paths = [c.request.method + " " + c.request.path_url.split("?")[0] for c in responses.calls]
    assert paths.count("POST /rest/api/3/issue/SD-42/comment") == 1
    assert "POST /rest/api/3/comment/list" in paths, "our own comments' properties were read back"


@responses.activate
def test_jira_follow_up_lost_answer_makes_one_issue_after_a_grace_period(store, jira):
    site = JiraSite(lose=[requests.exceptions.ConnectionError("reset")], index_lag=1)
    key = "slaclock-jira-SD-42-milestone:tech_lead:1"
    follow_up = FollowUp(original_id="SD-42", subject="Tech lead: SD-42", body="Urgent for 60 min.")
    queue(store, "follow_up", follow_up_to_json(follow_up), key, connector="jira", ticket_id="SD-42")
    clock = Clock(NOW)
    deliverer = Deliverer(store, {"jira": jira}, clock)
    deliverer.run_once()
    assert len(site.issues) == 1
    _, next_at, _, _ = row_of(store, key)
    assert datetime.fromisoformat(next_at) >= NOW + timedelta(seconds=FOLLOW_UP_GRACE_SECONDS)
    clock.advance(seconds=FOLLOW_UP_GRACE_SECONDS - 1)
    assert deliverer.run_once() == 0, "not before the grace period"
    clock.advance(seconds=2)
    deliverer.run_once()  # the index lags once more: not trusted, the look-up runs again before the create
    for _ in range(3):
        clock.advance(minutes=5)
        deliverer.run_once()
    assert len(site.issues) == 1 and site.links == [("SD-77", "SD-42")]
    assert row_of(store, key)[0] == "done"
    creates = [c for c in responses.calls if c.request.method == "POST" and c.request.path_url == "/rest/api/3/issue"]
    assert len(creates) == 1, "POST /issue is never sent again blindly"


@responses.activate
def test_jira_first_sends_spend_no_call_on_looking_for_themselves(store, jira):
    # A first send cannot have landed before: no label search before the create, no read after the edit.
    site = JiraSite()
    queue(store, "follow_up", follow_up_to_json(FollowUp("SD-42", "Tech lead: SD-42", "b")), "slaclock-jira-fu",
          connector="jira", ticket_id="SD-42")
    queue(store, "ticket_update", update_to_json(TicketUpdate(ticket_id="SD-42", priority="high", note="Escalated.")),
          "slaclock-jira-u", connector="jira", ticket_id="SD-42")
    deliverer = Deliverer(store, {"jira": jira}, Clock(NOW))
    while deliverer.run_once():
        pass
    assert len(site.issues) == 1 and len(site.comments) == 1 and store.outbox_counts() == {"done": 2}
    paths = [c.request.method + " " + c.request.path_url.split("?")[0] for c in responses.calls]
    assert paths == ["POST /rest/api/3/issue", "POST /rest/api/3/issueLink", "PUT /rest/api/3/issue/SD-42",
                     "POST /rest/servicedeskapi/request/SD-42/comment"]


@responses.activate
def test_refused_watcher_does_not_block_the_edit_the_note_or_the_customer_reply(store, jira):
    site = JiraSite(refuse_watchers={"acc-gone"})
    update = TicketUpdate(ticket_id="SD-42", priority="high", followers_add=frozenset({"acc-gone", "acc-lead"}),
                          note="slaclock: escalated to L2.")
    queue(store, "ticket_update", update_to_json(update), "slaclock-jira-SD-42-u", connector="jira", ticket_id="SD-42")
    queue(store, "public_reply", {"text": "Our specialists took over."}, "slaclock-jira-SD-42-r", connector="jira",
          ticket_id="SD-42")
    deliverer = Deliverer(store, {"jira": jira}, Clock(NOW))
    assert deliverer.run_once() == 1, "one row per ticket at a time: the note before the reply"
    assert deliverer.run_once() == 1
    edits = [c for c in responses.calls if c.request.method == "PUT"]
    assert len(edits) == 1 and json.loads(edits[0].request.body)["fields"]["priority"] == {"name": "High"}
    assert site.watchers == ["acc-lead"]
    note, reply = site.comments
    note_text = "\n".join(p["content"][0]["text"] for p in note["body"]["content"])
    assert "slaclock: escalated to L2.\nCould not add watcher acc-gone: Jira refused (404)." in note_text
    assert reply["jsdPublic"] is True and "Could not" not in json.dumps(reply["body"])
    assert store.outbox_counts() == {"done": 2}
    kinds = [(e.kind, e.summary) for e in store.timeline("jira", "SD-42")]
    assert ("step_failed", "Could not add watcher acc-gone: Jira refused (404).") in kinds


@pytest.mark.parametrize("call", ["note", "create"])
@pytest.mark.parametrize("answer", [dict(status=503), dict(body=requests.exceptions.ReadTimeout()),
                                    dict(body=requests.exceptions.ConnectionError("reset"))],
                         ids=["503", "read-timeout", "reset"])
@responses.activate
def test_jira_creations_are_sent_once_and_surface_an_unknown_outcome(call, answer):
    client = JiraClient(HelpdeskSession(JIRA, sleep=lambda s: None))
    url = f"{JIRA}/rest/servicedeskapi/request/SD-42/comment" if call == "note" else f"{JIRA}/rest/api/3/issue"
    post = responses.post(url, **answer)
    with pytest.raises(OutcomeUnknown):
        client.add_internal_comment("SD-42", "x") if call == "note" else client.create_issue({"summary": "x"})
    assert post.call_count == 1


# --- crash between send and commit, two workers (FakeConnector pipeline) ------------------------------

@pytest.fixture
def env(store):
    fake, clock = FakeConnector(), Clock(NOW)
    connectors = {"zendesk": fake}
    rules = rules_with_routing_notes()  # every first write carries a note: the write that must not double
    return fake, store, Processor(store, connectors, rules, clock), Deliverer(store, connectors, clock), clock


def deliver(store, ticket_id, key, actor="7", event_type="ticket.created"):
    store.add_delivery(connector="zendesk", delivery_key=key, event_type=event_type, ticket_id=ticket_id,
                       actor_id=actor, headers={}, body=b"{}", received_at=NOW)


def test_a_worker_killed_after_the_note_landed_leaves_a_row_that_is_read_back_not_resent(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    fake.crashes = 1
    with pytest.raises(Crash):
        deliverer.run_once()
    (status, _, progress, _), = store.db.execute("select status, next_attempt_at, progress_json, attempts from outbox")
    assert status == "sending" and json.loads(progress)["update"]["state"] == "sending"
    clock.advance(seconds=STALE_CLAIM_SECONDS - 1)
    assert Deliverer(store, {"zendesk": fake}, clock).run_once() == 0, "a live claim is not taken over"
    clock.advance(seconds=2)
    assert Deliverer(store, {"zendesk": fake}, clock).run_once() == 1
    assert len(fake.writes) == 1 and fake.read_backs == 1 and store.outbox_counts() == {"done": 1}


def test_a_crash_before_the_send_reached_the_helpdesk_sends_it_once(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    fake.failures = [Crash()]  # dies inside the call, before the helpdesk applied anything
    with pytest.raises(Crash):
        deliverer.run_once()
    clock.advance(seconds=STALE_CLAIM_SECONDS + 1)
    deliverer.run_once()
    assert len(fake.writes) == 1 and fake.read_backs == 1


def test_lost_answers_in_the_pipeline_give_exactly_one_write(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    fake.lost_answers = 1
    deliverer.run_once()
    clock.advance(minutes=1)
    deliverer.run_once()
    assert len(fake.writes) == 1 and store.outbox_counts() == {"done": 1}


def test_two_processors_never_decide_one_ticket_at_once(env):
    fake, store, first, deliverer, clock = env
    second = Processor(store, {"zendesk": fake}, rules_with_routing_notes(), clock)
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    claimed = store.claim_deliveries(NOW)  # worker one holds ticket 1 …
    deliver(store, "1", "d2", event_type="ticket.comment_added")
    assert second.run_once() == 0, "… so worker two gets none of its deliveries"
    first.process_ticket("zendesk", "1", claimed)
    assert second.run_once() == 0, "and none while the write it planned has not landed"
    deliverer.run_once()
    second.run_once()
    deliverer.run_once()
    assert len(fake.writes) == 1 and store.delivery_counts() == {"done": 2}


def test_a_write_queued_by_another_worker_during_the_decision_releases_the_deliveries(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    read = fake.fetch_ticket

    def read_while_another_worker_commits(ticket_id):
        ticket = read(ticket_id)
        with store.write_txn() as txn:  # the other worker's decision lands between our read and our commit
            txn.add_outbox(connector="zendesk", ticket_id="1", kind="ticket_update", now=NOW, idem_key="theirs",
                           payload=update_to_json(TicketUpdate(ticket_id="1", version="v1", note="theirs")))
        return ticket
    fake.fetch_ticket = read_while_another_worker_commits
    processor.run_once()
    assert store.outbox_counts() == {"pending": 1} and store.delivery_counts() == {"pending": 1}
    assert store.get_case("zendesk", "1") is None, "nothing of our decision was kept"


def test_two_deliverers_send_one_tickets_rows_one_at_a_time_in_order(env):
    fake, store, processor, deliverer, clock = env
    other = Deliverer(store, {"zendesk": fake}, clock)
    queue(store, "ticket_update", update_to_json(TicketUpdate(ticket_id="1", note="n")), "u", ticket_id="1")
    queue(store, "public_reply", {"text": "hi"}, "r", ticket_id="1")
    (mine,) = store.claim_outbox(NOW)
    assert mine.idem_key == "u" and other.run_once() == 0, "the reply waits while the note is being sent"


# --- retries until a horizon, refusals, healing --------------------------------------------------------

def test_retryable_failures_back_off_exponentially_until_the_horizon_then_park(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    fake.failures = [retryable()] * 1000
    delays = []
    while store.outbox_counts().get("pending"):
        deliverer.run_once()
        status, next_at, _, _ = row_of_first(store)
        if status == "pending":
            delays.append((datetime.fromisoformat(next_at) - clock.at).total_seconds())
            clock.at = datetime.fromisoformat(next_at)
    assert delays[:5] == [15, 30, 60, 120, 240] and max(delays) == RETRY_CAP_SECONDS
    assert NOW + RETRY_HORIZON - timedelta(seconds=RETRY_CAP_SECONDS) <= clock.at <= NOW + RETRY_HORIZON
    (parked,) = store.parked()
    assert "503" in parked.last_error and fake.writes == []


def row_of_first(store):
    return store.db.execute("select status, next_attempt_at, progress_json, attempts from outbox").fetchone()


def test_an_outage_heals_by_itself_with_nothing_parked_and_nothing_doubled(env):
    fake, store, processor, deliverer, clock = env
    for n in range(3):
        fake.add(str(n), reason_code="wrong_item")
        deliver(store, str(n), f"d{n}")
    processor.run_once()
    fake.failures = [retryable(), RetryableError("429", 429, 40.0), retryable(), OutcomeUnknown("reset", None)]
    for _ in range(20):
        deliverer.run_once()
        clock.advance(minutes=2)
    assert sorted(u.ticket_id for u, _ in fake.writes) == ["0", "1", "2"]
    assert store.outbox_counts() == {"done": 3} and store.parked() == []


def test_rows_waiting_out_an_outage_go_at_once_when_the_helpdesk_answers_again(env):
    fake, store, processor, deliverer, clock = env
    for n in range(3):
        queue(store, "public_reply", {"text": f"hi {n}"}, f"r{n}", ticket_id=str(n))
    fake.failures = [retryable(), retryable()]
    deliverer.run_once()  # 0 and 1 fail and wait 15 s; 2 lands
    assert [t for t, _, _ in fake.public_replies] == ["2"]
    assert store.outbox_counts() == {"done": 1, "pending": 2}
    deliverer.run_once()  # the same instant: no backoff left to wait out
    assert sorted(t for t, _, _ in fake.public_replies) == ["0", "1", "2"]


def test_a_429_waits_at_least_its_retry_after(env):
    fake, store, processor, deliverer, clock = env
    queue(store, "public_reply", {"text": "hi"}, "r", ticket_id="1")
    fake.failures = [RetryableError("429", 429, 90.0)]
    deliverer.run_once()
    status, next_at, _, _ = row_of_first(store)
    assert status == "pending" and datetime.fromisoformat(next_at) == NOW + timedelta(seconds=90)


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_a_refusal_parks_at_once(env, status):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item")
    deliver(store, "1", "d1")
    processor.run_once()
    fake.failures = [PermanentError(f"PUT → {status}", status)]
    deliverer.run_once()
    (parked,) = store.parked()
    assert parked.attempts == 1 and str(status) in parked.last_error


def test_the_reconciler_does_not_treat_a_ticket_with_a_parked_write_as_handled(env):
    fake, store, processor, deliverer, clock = env
    fake.add("1", reason_code="wrong_item", updated_at=NOW)
    fake.add("2", reason_code="wrong_item", updated_at=NOW)
    deliver(store, "1", "d1")
    deliver(store, "2", "d2")
    processor.run_once()
    fake.failures = [PermanentError("PUT → 403", 403)]
    deliverer.run_once()  # ticket 1's write is parked, ticket 2's landed
    assert len(store.parked()) == 1 and len(fake.writes) == 1
    fake.feed = [("1", NOW), ("2", NOW)]
    assert Reconciler(store, {"zendesk": fake}, clock).run_once() == 1
    (check,) = store.db.execute("select ticket_id from inbox where event_type = 'slaclock.reconcile'").fetchall()
    assert check == ("1",)


class GroupFake(FakeConnector):
    def actor_groups(self, actor_id):
        raise ValueError(f"invalid Zendesk ticket id {actor_id!r}")


def test_an_escalation_by_the_system_actor_is_decided_without_groups(store):
    fake, clock, rules = GroupFake(), Clock(NOW), load_rules()
    fake.add("1", priority="low", tags=frozenset({rules.escalation.tag}))
    deliver(store, "1", "d1", actor="-1")
    Processor(store, {"zendesk": fake}, rules, clock).run_once()
    assert store.delivery_counts() == {"done": 1}

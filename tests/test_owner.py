"""An owner from the first minute (issue 15 item 1): the team's assignee, its on-call rota, or the least-loaded member
of its group, read from the helpdesk (pure rules, the clients over `responses`, the processor on both helpdesks)."""
from datetime import datetime, timezone

import pytest
import responses
from responses import matchers

from connectors.http import HelpdeskSession
from connectors.model import Ticket
from jira.client import JiraClient
from jira.connector import JiraConnector
from jira.settings import JiraSettings
from jobs.deliverer import Deliverer
from jobs.processor import Processor
from rules import EXAMPLE_RULES, decide, load_rules, parse_rules
from rules.schema import RulesError
from tests.fakes import Clock, FakeConnector
from zendesk.connector import ZendeskConnector
from zendesk.settings import ZendeskSettings

RULES = load_rules()
OPENED = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York
SUPPORT_OWNER = 'owner = "least_loaded"'


def example_with(old: str, new: str):
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    assert old in text
    return parse_rules(text.replace(old, new))


def ticket(connector: str = "zendesk", **fields) -> Ticket:
    base = dict(connector=connector, ticket_id="1", status="new", priority="normal", opened_at=OPENED,
                updated_at=OPENED)
    return Ticket(**{**base, **fields})


@pytest.mark.parametrize("connector", ["zendesk", "jira"])
def test_a_new_support_case_goes_to_the_member_with_the_fewest_open_tickets(connector):
    decision = decide(ticket(connector), RULES, OPENED, team_load={"11": 4, "12": 1, "13": 1})
    assert decision.team == "support" and decision.assignee_id == "12", "ties go to the helpdesk's first"
    (why,) = decision.reasons_for("assignee")
    assert why.rule == "teams.support.owner"
    assert why.text == "owner user 12: the fewest open tickets of the team's 3 members (1 open ticket)"


def test_the_pick_names_a_known_person_and_reads_right_for_one_member_and_none_open():
    sam = RULES.people["sam"].zendesk
    decision = decide(ticket(), RULES, OPENED, team_load={sam: 0})
    assert decision.assignee_id == sam
    assert decision.reasons_for("assignee")[0].text == (
        "owner Sam Ortiz: the only member of the team's group (0 open tickets)")


def test_without_a_load_the_teams_assignee_stands_in_and_the_reason_says_why():
    jira = decide(ticket("jira"), RULES, OPENED, team_load=None)
    assert jira.assignee_id == RULES.teams["support"].jira.assignee_id
    assert jira.reasons_for("assignee")[0].text == (
        "the team's open tickets could not be read; the team's assignee owns it")
    zendesk = decide(ticket(), RULES, OPENED, team_load={})
    assert zendesk.assignee_id is None and zendesk.group_id == "2001"
    assert zendesk.reasons_for("assignee")[0].text == "nobody in the team's group may take it; no owner"


def test_an_owner_on_call_in_the_teams_rota():
    rules = example_with(SUPPORT_OWNER, 'owner = "rota"\nrota = "engineering_oncall"')
    monday_noon = datetime(2026, 3, 2, 17, tzinfo=timezone.utc)  # 12:00 in New York: erik's shift
    decision = decide(ticket("jira", opened_at=monday_noon, updated_at=monday_noon), rules, monday_noon)
    assert decision.assignee_id == RULES.people["erik"].jira
    assert decision.reasons_for("assignee")[0].text == "owner Erik Lund: on call in rota engineering_oncall"
    night = datetime(2026, 3, 3, 3, tzinfo=timezone.utc)  # Monday 22:00 in New York: nina's
    assert decide(ticket(opened_at=night, updated_at=night), rules, night).assignee_id == RULES.people["nina"].zendesk


def test_owner_assignee_turns_it_off_and_a_rota_owner_needs_its_rota():
    rules = example_with(SUPPORT_OWNER, 'owner = "assignee"')
    decision = decide(ticket(), rules, OPENED, team_load={"12": 0})
    assert decision.assignee_id is None and decision.reasons_for("assignee") == []
    with pytest.raises(RulesError) as e:
        example_with(SUPPORT_OWNER, 'owner = "rota"\nrota = "nobody_oncall"')
    assert "teams.support.rota" in str(e.value) and "nobody_oncall" in str(e.value)
    with pytest.raises(RulesError) as e:
        example_with(SUPPORT_OWNER, 'owner = "rota"')
    assert 'owner = "rota" needs rota' in str(e.value)


def test_the_owner_is_picked_when_routed_not_again_on_each_decision():
    first = decide(ticket(), RULES, OPENED, team_load={"11": 2, "12": 0})
    later = decide(ticket(group_id="2001", assignee_id="12"), RULES, OPENED, first.memory, team_load={"11": 0})
    assert later.assignee_id is None and later.reasons_for("assignee") == []


# --- the clients: the real endpoints ------------------------------------------------------------

ZENDESK = "https://acme.zendesk.com"
JIRA = "https://acme-support.atlassian.net"


@responses.activate
def test_zendesk_reads_the_groups_members_then_counts_each_ones_unsolved_tickets():
    settings = ZendeskSettings(base_url=ZENDESK, email="slaclock@acme.test", api_token="tok", webhook_secrets=("s",))
    responses.get(f"{ZENDESK}/api/v2/groups/2001/memberships.json", json={
        "group_memberships": [{"id": 1, "user_id": 11, "group_id": 2001}, {"id": 2, "user_id": 12, "group_id": 2001}],
        "next_page": None})
    for user, count in (("11", 3), ("12", 1)):
        responses.get(f"{ZENDESK}/api/v2/search/count.json", json={"count": count}, match=[
            matchers.query_param_matcher({"query": f"type:ticket assignee:{user} status<solved"})])
    assert ZendeskConnector(settings).open_tickets_per_member("2001", "5") == {"11": 3, "12": 1}
    assert len(responses.calls) == 3


@responses.activate
def test_jira_counts_the_unresolved_issues_of_the_groups_members_who_may_take_the_issue():
    settings = JiraSettings.from_env({"JIRA_URL": JIRA, "JIRA_EMAIL": "s@acme.example", "JIRA_API_TOKEN": "t"},
                                     RULES)
    responses.get(f"{JIRA}/rest/api/3/user/assignable/search", json=[{"accountId": "a1"}, {"accountId": "a3"}],
                  match=[matchers.query_param_matcher({"issueKey": "SD-7", "maxResults": "1000"})])
    responses.get(f"{JIRA}/rest/api/3/group/member", json={
        "isLast": True, "values": [{"accountId": "a1", "active": True}, {"accountId": "a2", "active": True},
                                   {"accountId": "a3", "active": True}, {"accountId": "a4", "active": False}]},
        match=[matchers.query_param_matcher({"groupId": "g-1", "startAt": "0", "maxResults": "50"})])
    for account, count in (("a1", 5), ("a3", 2)):
        responses.post(f"{JIRA}/rest/api/3/search/approximate-count", json={"count": count}, match=[
            matchers.json_params_matcher({"jql": f'assignee = "{account}" AND statusCategory != Done'})])
    connector = JiraConnector(settings)
    assert connector.open_tickets_per_member("g-1", "SD-7") == {"a1": 5, "a3": 2}


# --- the processor, on both helpdesks -----------------------------------------------------------

class LoadedDesk(FakeConnector):
    def __init__(self, name: str, members: dict[str, int]):
        super().__init__()
        self.name, self.members, self.asked = name, members, []

    def open_tickets_per_member(self, group_id: str, ticket_id: str) -> dict[str, int]:
        self.asked.append(group_id)
        return dict(self.members)


@pytest.mark.parametrize("name, group", [("zendesk", "2001"), ("jira", RULES.teams["support"].jira.owners_group_id)])
def test_the_processor_reads_the_load_only_when_it_routes_to_a_least_loaded_team(store, name, group):
    desk, clock = LoadedDesk(name, {"21": 2, "22": 0}), Clock(OPENED)
    jobs = (Processor(store, {name: desk}, RULES, clock), Deliverer(store, {name: desk}, clock))

    def deliver(ticket_id, key, event="ticket.created"):
        store.add_delivery(connector=name, delivery_key=key, event_type=event, ticket_id=ticket_id, actor_id="500",
                           headers={}, body=b"{}", received_at=clock.at)
        while sum(job.run_once() for job in jobs):
            pass

    desk.add("1", opened_at=OPENED, updated_at=OPENED)
    desk.add("2", reason_code="wrong_item", opened_at=OPENED, updated_at=OPENED)
    deliver("1", "c1")
    deliver("2", "c2")
    assert desk.asked == [group], "the warehouse owns by assignee: nothing to read"
    assert desk.tickets["1"].assignee_id == "22"
    deliver("1", "u1", "ticket.updated")
    assert desk.asked == [group], "routed once: the owner stands"


@pytest.mark.parametrize("name, group", [("zendesk", "2001"), ("jira", RULES.teams["support"].jira.owners_group_id)])
def test_a_burst_of_new_cases_is_spread_over_the_team_from_one_read_per_batch(store, name, group):
    desk, clock = LoadedDesk(name, {"21": 2, "22": 0, "23": 1}), Clock(OPENED)
    jobs = (Processor(store, {name: desk}, RULES, clock), Deliverer(store, {name: desk}, clock))

    def arrive(*ticket_ids):
        for ticket_id in ticket_ids:
            desk.add(ticket_id, opened_at=clock.at, updated_at=clock.at)
            store.add_delivery(connector=name, delivery_key=f"c{ticket_id}", event_type="ticket.created",
                               ticket_id=ticket_id, actor_id="500", headers={}, body=b"{}", received_at=clock.at)
        while sum(job.run_once() for job in jobs):
            pass
        return [desk.tickets[t].assignee_id for t in ticket_ids]

    # One batch: 22 has 0, 23 has 1, 21 has 2; each pick counts at once, ties go to the helpdesk's order.
    assert arrive("1", "2", "3", "4", "5") == ["22", "22", "23", "21", "22"] and desk.asked == [group]
    assert arrive("6") == ["22"] and desk.asked == [group, group]  # the next batch reads the helpdesk again

"""Resolve only when confirmed (seeds 001, 003), end to end on both helpdesks: the agent solves, slaclock asks the
customer, and the customer's reply closes the case with a follow-up or reopens it for its owner.

Zendesk: the requester's reply reopens a solved ticket by itself, and a closed ticket takes no more updates, so
the close and the follow-up are one write. Jira: the reply changes no status; slaclock moves the issue through
the workflow's transitions.
"""

from rules import CaseMemory, load_rules
from tests.test_e2e import HELPDESKS

RULES = load_rules()
TAG = RULES.confirmation.tag


def status(stack, helpdesk, ticket_id) -> str:
    ticket = stack.ticket(ticket_id, helpdesk.name)
    return ticket["fields"]["status"]["name"] if helpdesk.name == "jira" else ticket["status"]


def assignee(stack, helpdesk, ticket_id) -> str | None:
    ticket = stack.ticket(ticket_id, helpdesk.name)
    if helpdesk.name == "jira":
        return (ticket["fields"].get("assignee") or {}).get("accountId")
    return None if ticket["assignee_id"] is None else str(ticket["assignee_id"])


def solved_and_asked(stack, helpdesk, subject: str) -> str:
    ticket_id = stack.customer_creates(subject, "normal", "site_not_ready", helpdesk.name)
    stack.settle()
    stack.agent_solves(ticket_id, helpdesk.name)
    stack.settle()
    view = stack.summary(ticket_id, helpdesk.name)
    (ask,) = [text for text in view["public"] if "Is everything working again?" in text]
    reference = f"#{ticket_id}" if helpdesk.name == "zendesk" else ticket_id
    assert ask.startswith(f"We believe your request {reference} is resolved.") and "we will close it on " in ask
    assert TAG in view["tags"], "solved but not confirmed: tagged while it waits"
    return ticket_id


def kinds(stack, helpdesk, ticket_id) -> list[str]:
    return [e.kind for e in stack.store.timeline(helpdesk.name, ticket_id)]


@HELPDESKS
def test_customer_confirms_and_the_case_closes_with_a_follow_up(stack, helpdesk):
    ticket_id = solved_and_asked(stack, helpdesk, "Gate code does not work")
    stack.customer_replies(ticket_id, "Yes, it works now. Thanks!", helpdesk.name)
    stack.settle()

    assert status(stack, helpdesk, ticket_id) == ("closed" if helpdesk.name == "zendesk" else "Closed")
    view = stack.summary(ticket_id, helpdesk.name)
    assert view["public"][-1].startswith("Thank you for confirming: your request ")
    assert TAG not in view["tags"]
    assert view["notes"][-1].startswith("Closed: the customer confirmed the resolution.")
    timeline = kinds(stack, helpdesk, ticket_id)
    assert timeline.index("resolution_asked") < timeline.index("resolution_confirmed") < timeline.index("closed")
    closes = stack.store.db.execute(
        "select count(*) from outbox where connector = ? and ticket_id = ? and kind = 'close' and status = 'done'",
        [helpdesk.name, ticket_id]).fetchone()[0]
    assert closes == 1


@HELPDESKS
def test_customer_says_not_fixed_and_the_case_reopens_for_its_owner(stack, helpdesk):
    ticket_id = solved_and_asked(stack, helpdesk, "Installer could not start again")
    owner = assignee(stack, helpdesk, ticket_id)
    stack.customer_replies(ticket_id, "Sorry, the site is still not ready for the installer.", helpdesk.name)
    stack.settle()

    assert status(stack, helpdesk, ticket_id) == ("open" if helpdesk.name == "zendesk" else "Waiting for support")
    assert owner is not None and assignee(stack, helpdesk, ticket_id) == owner
    view = stack.summary(ticket_id, helpdesk.name)
    assert TAG not in view["tags"] and view["notes"][-1].startswith("The customer says the problem is not fixed")
    assert view["public"][-1].startswith("Thank you for telling us. We have reopened your request ")
    assert "reopened" in kinds(stack, helpdesk, ticket_id) and "closed" not in kinds(stack, helpdesk, ticket_id)
    # The SLA clock runs again (sla.on_reopen = "resume"): the sweeper's next look folds the new status in.
    stack.settle()
    memory = CaseMemory.from_json(stack.store.get_case(helpdesk.name, ticket_id).memory)
    assert memory.last_status == "open"

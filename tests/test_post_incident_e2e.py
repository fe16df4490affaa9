"""Post-incident follow-up (seed 003 step 8), end to end on both helpdesks: an escalated case is solved, its
escalation owner gets a task with a due date (Zendesk: a task ticket; Jira: an issue linked to the case), the owner
writes the root cause there and solves it, and `slaclock report` lists the root cause."""
import json
from datetime import datetime, timedelta, timezone

from jira.mapping import adf_text
from rules import load_rules
from tests.stacks import slaclock
from tests.test_e2e import HELPDESKS

RULES = load_rules()
SAM = RULES.people["sam"]


@HELPDESKS
def test_the_escalation_owner_reviews_a_solved_escalated_case_and_the_report_keeps_its_root_cause(
        stack, helpdesk, capsys):
    case = stack.customer_creates("Refund still not paid", "normal", None, helpdesk.name)
    stack.settle()
    stack.agent_escalates(case, helpdesk.name)
    stack.settle()
    stack.agent_solves(case, helpdesk.name)
    stack.settle()

    (task_id,) = [row[0] for row in stack.store.db.execute(
        "select task_id from review_tasks where connector = ? and ticket_id = ?", [helpdesk.name, case])]
    task = stack.ticket(task_id, helpdesk.name)
    soon = datetime.now(timezone.utc) + RULES.post_incident.due_in
    if helpdesk.name == "zendesk":
        assert (task["type"], str(task["assignee_id"])) == ("task", SAM.zendesk)
        assert abs(datetime.fromisoformat(task["due_at"].replace("Z", "+00:00")) - soon) < timedelta(minutes=5)
        body = task["description"]
    else:
        fields = task["fields"]
        assert fields["assignee"]["accountId"] == SAM.jira and fields["duedate"] == f"{soon:%Y-%m-%d}"
        assert {link.get("inwardIssue", link.get("outwardIssue"))["key"] for link in fields["issuelinks"]} == {case}
        body = adf_text(fields["description"])
    for heading in ("Root cause:", "Actions taken:", "Preventive steps:"):
        assert heading in body
    assert any(note.startswith(f"Post-incident review asked of {SAM.name}")
               for note in stack.summary(case, helpdesk.name)["notes"])

    cause = f"The refund batch job on {helpdesk.name} was paused by a deploy."
    if helpdesk.name == "zendesk":
        stack.agent_changes(task_id, custom_fields=[{"id": 360009, "value": cause}], status="solved")
    else:
        stack.agent_changes(task_id, "jira", description=f"Root cause:\n{cause}\nActions taken:\nRestarted it.\n"
                                                         "Preventive steps:\nAn alert on the job.",
                            status={"name": "Resolved"})
    stack.settle()

    assert slaclock(stack, "report", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert cause in report["groups"]["all"]["root_causes"]["-"]
    task_after = stack.summary(task_id, helpdesk.name)
    # slaclock runs no case lifecycle on its own task: no routing note, no request to confirm (its first comment,
    # private on Zendesk, is the task's text).
    assert len(task_after["notes"]) <= 1 and not task_after["public"]

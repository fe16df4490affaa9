"""`slaclock check` asks the helpdesk (the default; --offline does not): on what `install` created it passes (see
tests/test_install.py); here each wrong id, field type, name, permission, webhook and secret is one line naming the
rules key or variable and the value, all of them at once, exit 1, and nothing is written."""
from __future__ import annotations

import pytest
import requests
from dotenv import dotenv_values

from app import main
from tests.test_install import JI_HOOK, ZD_CFG, ZD_HOOK, install, posts, sandbox, setup  # noqa: F401 - fixtures


@pytest.fixture
def installed(setup, sandbox, capsys):  # noqa: F811 - the fixtures imported above
    """Both helpdesks installed; the .env path."""
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    assert install("jira", "--webhook-url", JI_HOOK) == 0
    capsys.readouterr()
    return setup


def rules_path(env) -> str:
    return dotenv_values(env)["SLACLOCK_RULES"]


def edit_rules(env, old: str, new: str) -> None:
    path = rules_path(env)
    text = open(path).read()
    assert old in text
    open(path, "w").write(text.replace(old, new))


def check(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["check", *args])
    out = capsys.readouterr()
    # stderr also carries the served sandbox's request log; the problems are the `error: ` lines.
    return code, [line.removeprefix("error: ") for line in out.err.splitlines() if line.startswith("error: ")], out.out


def test_a_wrong_group_id_names_the_rules_key(installed, capsys):
    edit_rules(installed, 'group_id = "2002"', 'group_id = "99999"')
    code, errors, _ = check(capsys)
    assert code == 1
    assert errors == ["teams.purchasing.zendesk.group_id = '99999': no such Zendesk group; use an id from Admin "
                      "Center → People → Teams → Groups (GET /api/v2/groups)"]


def test_a_wrong_field_type_names_the_variable(installed, capsys, monkeypatch):
    values = dotenv_values(installed)
    monkeypatch.setenv("ZENDESK_DUE_FIELD_ID", values["ZENDESK_REASON_FIELD_ID"])
    monkeypatch.setenv("JIRA_REASON_FIELD_ID", values["JIRA_DUE_FIELD_ID"])
    code, errors, _ = check(capsys)
    assert code == 1 and len(errors) == 2
    assert errors[0].startswith(f"ZENDESK_DUE_FIELD_ID = '{values['ZENDESK_REASON_FIELD_ID']}': 'Reason code "
                                "(slaclock)' is a tagger field; slaclock writes an ISO 8601 time")
    assert errors[1].startswith(f"JIRA_REASON_FIELD_ID = '{values['JIRA_DUE_FIELD_ID']}': 'SLA due (slaclock)' is a "
                                "datetime field, not a Select List")


def test_every_problem_at_once_with_its_key(installed, capsys):
    """The issue's case: made-up ids in the rules file pass offline; online each is named."""
    text = open(rules_path(installed)).read()
    text = (text.replace('group_id = "2001"', 'group_id = "99999"')
            .replace('zendesk = "9002"', 'zendesk = "424242"')
            .replace('jira = "5d53f3cbc6b9320d9ea5be01"', 'jira = "5d53f3cbc6b9320d9ea5beff"')
            .replace('other = "support"', 'other = "support"\nsite_not_ready = "support"'))
    open(rules_path(installed), "w").write(text)
    assert check(capsys, "--offline")[0] == 0
    code, errors, _ = check(capsys)
    assert code == 1
    assert [e.split(":")[0] for e in errors] == [
        "teams.support.zendesk.group_id = '99999'", "people.sam.zendesk = '424242'",
        errors[2].split(":")[0], "people.sam.jira = '5d53f3cbc6b9320d9ea5beff'", errors[4].split(":")[0]]
    assert "ZENDESK_REASON_FIELD_ID" in errors[2] and "no option tag site_not_ready" in errors[2]
    assert "JIRA_REASON_FIELD_ID" in errors[4] and "no option site_not_ready" in errors[4]


def test_a_field_id_from_the_rules_file_is_named_by_its_key(installed, capsys, monkeypatch):
    monkeypatch.setenv("ZENDESK_DUE_FIELD_ID", "")
    edit_rules(installed, "[people.sam]", '[connectors.zendesk]\ndue_field_id = "12345"\n\n[people.sam]')
    code, errors, _ = check(capsys)
    assert code == 1
    assert errors == ["connectors.zendesk.due_field_id = '12345': no such Zendesk ticket field; run `slaclock install "
                      "zendesk` or set the due-time text field's id"]


def test_an_end_user_as_assignee(installed, sandbox, capsys):  # noqa: F811
    # A ticket from a new requester creates an end user, as on Zendesk.
    answer = requests.post(f"{sandbox.url}/api/v2/tickets.json", auth=(f"{ZD_CFG.api_email}/token", ZD_CFG.api_token),
                           json={"ticket": {"subject": "Broken", "comment": {"body": "It broke"},
                                            "requester": {"name": "Cara Customer", "email": "cara@customer.invalid"}}},
                           timeout=10)
    end_user = answer.json()["ticket"]["requester_id"]
    edit_rules(installed, 'zendesk = "9002"', f'zendesk = "{end_user}"')
    code, errors, _ = check(capsys)
    assert code == 1
    assert errors == [f"people.sam.zendesk = '{end_user}': Cara Customer is an end user and cannot be assigned "
                      "tickets; name an agent"]


def test_webhook_elsewhere_and_a_wrong_secret(installed, capsys, monkeypatch):
    monkeypatch.setenv("SLACLOCK_PUBLIC_URL", "https://other.example.com")
    code, errors, _ = check(capsys)
    assert code == 1
    assert errors == ["zendesk: no webhook sends to https://other.example.com/webhooks/zendesk; run `slaclock install "
                      "zendesk --webhook-url …`",
                      "jira: no admin webhook sends to https://other.example.com/webhooks/jira; run `slaclock install "
                      "jira --webhook-url …`"]
    monkeypatch.delenv("SLACLOCK_PUBLIC_URL")
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", "not-the-secret")
    code, errors, out = check(capsys, "--webhook-url", "https://slaclock.example.com")
    assert code == 1 and len(errors) == 1
    assert errors[0].startswith("ZENDESK_WEBHOOK_SECRET: none of its values is the signing secret of webhook")
    secret = dotenv_values(installed)["ZENDESK_WEBHOOK_SECRET"]
    assert secret not in out + "".join(errors) and "not-the-secret" not in out + "".join(errors)


def test_an_inactive_webhook(installed, sandbox, capsys):  # noqa: F811
    [hook] = sandbox.sandbox.zendesk.admin.webhooks.values()
    hook.body["status"] = "inactive"
    code, errors, _ = check(capsys)
    assert code == 1 and errors == [f"zendesk: webhook {hook.body['id']} ('slaclock') is inactive; activate it in "
                                    "Admin Center → Apps and integrations → Webhooks"]


def test_jira_permissions_priorities_and_statuses(installed, sandbox, capsys, monkeypatch):  # noqa: F811
    sandbox.sandbox.jira.config.missing_permissions = ("ASSIGN_ISSUES",)
    monkeypatch.setenv("JIRA_PROJECTS", "SD")
    monkeypatch.setenv("JIRA_PRIORITY_MAP", "Critical=urgent,High=high,Medium=normal,Low=low")
    monkeypatch.setenv("JIRA_PAUSE_STATUSES", "Waiting for customer,Awaiting parts")
    code, errors, _ = check(capsys)
    assert code == 1
    assert errors == [
        "JIRA_PRIORITY_MAP: 'Critical' (written for urgent) is not a priority of this site; map urgent to one of its "
        "priorities first",
        "JIRA_PAUSE_STATUSES: 'awaiting parts' is not a status of this site; fix the name or remove it",
        "JIRA_EMAIL: the API account lacks Assign issues (ASSIGN_ISSUES) in project SD; grant it in the project's "
        "permission scheme (Project settings → Permissions)"]


def test_an_agent_token_on_zendesk(installed, sandbox, capsys):  # noqa: F811
    sandbox.sandbox.zendesk.config.api_user_role = "agent"
    code, errors, out = check(capsys)
    assert code == 1
    # One line for the one fix; the admin-only webhook reads are skipped, and said so.
    assert errors == ["zendesk: the change feed answers 403, so the lost-webhook safety net (reconciler) is off: "
                      "give the API account the admin role"]
    assert "zendesk: the webhook is not checked: the Webhooks API is admin-only" in out


def test_check_writes_nothing_and_offline_asks_nothing(installed, sandbox, capsys):  # noqa: F811
    before_env, before_posts = installed.read_text(), posts(sandbox)
    assert check(capsys)[0] == 0
    assert posts(sandbox) == before_posts and installed.read_text() == before_env
    calls = sandbox.sandbox.report()["total"]
    assert check(capsys, "--offline")[0] == 0
    assert sandbox.sandbox.report()["total"] == calls
    assert not (installed.parent / "s.db").exists()


def test_a_field_the_rules_read_is_named_by_its_rules_key(installed, capsys):
    with open(rules_path(installed), "a") as file:
        file.write('\n[vendor]\neta_field = { zendesk = "777", jira = "customfield_99999" }\n')
    code, errors, _ = check(capsys)
    assert code == 1
    assert [e.split(":")[0] for e in errors] == ["vendor.eta_field.zendesk = '777'",
                                                 "vendor.eta_field.jira = 'customfield_99999'"]
    assert all("no such" in e for e in errors)


def test_the_resolution_path_and_an_escalation_requests_fields_are_checked(installed, capsys):
    with open(rules_path(installed), "a") as file:
        file.write('\n[resolution_path]\nfield = { zendesk = "778", jira = "customfield_99998" }\n'
                   '\n[escalation.request.fields]\n"the order ids" = { zendesk = "779" }\n')
    code, errors, _ = check(capsys)
    assert code == 1
    assert [e.split(":")[0] for e in errors] == ["resolution_path.field.zendesk = '778'",
                                                 "escalation.request.fields.\"the order ids\".zendesk = '779'",
                                                 "resolution_path.field.jira = 'customfield_99998'"]

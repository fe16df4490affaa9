"""`slaclock install zendesk|jira` against a served sandbox: it creates the fields and the webhook, writes the .env,
a second run changes nothing, --dry-run writes nothing; then `check` passes on the result (tests/test_check_online.py
covers what check finds)."""
from __future__ import annotations

import os

import pytest
from dotenv import dotenv_values

from app import main
from install.envfile import update_env_file
from sandbox import SandboxConfig, SandboxServer
from sandbox.jira.site import JiraConfig
from sandbox.zendesk.site import ZendeskConfig
from store import Store

RULES = """
version = "install-test"

[routing]
default_team = "support"

[routing.reason_codes]
missing_part = "purchasing"
wrong_item = "purchasing"
other = "support"

[teams.support.zendesk]
group_id = "2001"

[teams.support.jira]
assignee_id = "5d53f3cbc6b9320d9ea5bd01"

[teams.purchasing.zendesk]
group_id = "2002"
assignee_id = "9002"

[teams.purchasing.jira]
assignee_id = "5d53f3cbc6b9320d9ea5bd02"

[people.sam]
zendesk = "9002"
jira = "5d53f3cbc6b9320d9ea5be01"
"""
PUBLIC = "https://slaclock.example.com"
ZD_HOOK, JI_HOOK = f"{PUBLIC}/webhooks/zendesk", f"{PUBLIC}/webhooks/jira"
ZD_CFG, JI_CFG = ZendeskConfig(), JiraConfig()


@pytest.fixture
def sandbox():
    server = SandboxServer(SandboxConfig()).start()
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path, monkeypatch, sandbox):
    """A rules file and a .env with the admin credentials only; os.environ restored afterwards (main loads .env)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("ZENDESK_", "JIRA_", "SLACLOCK_")):
            monkeypatch.delenv(name)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    env = tmp_path / ".env"
    env.write_text("# slaclock settings\n"
                   f"SLACLOCK_RULES={rules}\nSLACLOCK_DATABASE={tmp_path / 's.db'}\n"
                   f"ZENDESK_URL={sandbox.url}\nZENDESK_EMAIL={ZD_CFG.api_email}\n"
                   f"ZENDESK_API_TOKEN={ZD_CFG.api_token}\n"
                   f"JIRA_URL={sandbox.url}\nJIRA_EMAIL={JI_CFG.api_email}\nJIRA_API_TOKEN={JI_CFG.api_token}\n"
                   "OTHER_SETTING=kept\n")
    monkeypatch.setenv("SLACLOCK_ENV_FILE", str(env))
    yield env
    os.environ.clear()
    os.environ.update(saved)


def posts(sandbox) -> dict[str, int]:
    """API writes per route, both helpdesks (a JQL search is a POST that reads)."""
    return {route: n for route, n in sandbox.sandbox.report()["api_calls"].items()
            if route.split()[0] in ("POST", "PUT", "DELETE") and not route.endswith("/search/jql")}


def install(*args: str) -> int:
    return main(["install", *args])


def test_install_zendesk_creates_fields_and_webhook_and_writes_env(setup, sandbox, capsys):
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    out = capsys.readouterr().out
    values = dotenv_values(setup)
    admin = sandbox.sandbox.zendesk.admin
    reason = admin.fields[int(values["ZENDESK_REASON_FIELD_ID"])]
    assert reason["type"] == "tagger"
    assert [o["value"] for o in reason["custom_field_options"]] == ["missing_part", "wrong_item", "other"]
    for variable in ("ZENDESK_DUE_FIELD_ID", "ZENDESK_FIRST_RESPONSE_FIELD_ID", "ZENDESK_NEXT_UPDATE_FIELD_ID"):
        assert admin.fields[int(values[variable])]["type"] == "text"
    [hook] = [w for w in admin.webhooks.values() if w.body["endpoint"] == ZD_HOOK]
    assert hook.body["status"] == "active" and "zen:event-type:ticket.comment_added" in hook.body["subscriptions"]
    # The signing secret read back is in the .env, never on screen; the other lines are kept.
    assert values["ZENDESK_WEBHOOK_SECRET"] == hook.secret and hook.secret not in out
    assert "ZENDESK_WEBHOOK_SECRET (secret, not shown)" in out
    assert values["OTHER_SETTING"] == "kept" and setup.read_text().startswith("# slaclock settings\n")
    assert values["SLACLOCK_PUBLIC_URL"] == PUBLIC
    assert "still to do by hand" in out and "ticket forms" in out
    assert sandbox.sandbox.report()["rejected"] == []


def test_second_zendesk_run_reuses_everything(setup, sandbox, capsys):
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    before, text = posts(sandbox), setup.read_text()
    capsys.readouterr()
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    out = capsys.readouterr().out
    assert posts(sandbox) == before and setup.read_text() == text
    assert "already up to date" in out and ": create" not in out and out.count(": reuse") == 5
    assert len(sandbox.sandbox.zendesk.admin.webhooks) == 1


def test_second_run_adds_a_new_reason_code_as_an_option(setup, sandbox, capsys):
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    rules = dotenv_values(setup)["SLACLOCK_RULES"]
    with open(rules, "a") as file:
        file.write('\n[teams.warehouse.zendesk]\ngroup_id = "2003"\n')
    text = open(rules).read().replace('other = "support"', 'other = "support"\ndamage = "warehouse"')
    open(rules, "w").write(text)
    capsys.readouterr()
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    assert "add option tags damage" in capsys.readouterr().out
    reason = sandbox.sandbox.zendesk.admin.fields[int(dotenv_values(setup)["ZENDESK_REASON_FIELD_ID"])]
    assert [o["value"] for o in reason["custom_field_options"]][-1] == "damage"
    assert sandbox.sandbox.report()["rejected"] == []


def test_dry_run_writes_nothing(setup, sandbox, capsys):
    text = setup.read_text()
    assert install("zendesk", "--webhook-url", ZD_HOOK, "--dry-run") == 0
    assert install("jira", "--webhook-url", JI_HOOK, "--dry-run") == 0
    out = capsys.readouterr().out
    assert posts(sandbox) == {} and setup.read_text() == text
    assert "reason-code drop-down 'Reason code (slaclock)' (3 option tags): create" in out
    assert "nothing created" in out


def test_install_jira_creates_fields_webhook_and_a_secret(setup, sandbox, capsys):
    assert install("jira", "--webhook-url", JI_HOOK) == 0
    out = capsys.readouterr().out
    values = dotenv_values(setup)
    site = sandbox.sandbox.jira
    reason = site.store.fields[values["JIRA_REASON_FIELD_ID"]]
    assert reason.kind == "select" and reason.options == ("missing_part", "wrong_item", "other")
    for variable in ("JIRA_DUE_FIELD_ID", "JIRA_FIRST_RESPONSE_FIELD_ID", "JIRA_NEXT_UPDATE_FIELD_ID"):
        assert site.store.fields[values[variable]].kind == "datetime"
    [hook] = [h for h in site.admin.webhooks if h["url"] == JI_HOOK]
    assert set(hook["events"]) == {"jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated"}
    # The generated secret signs the sandbox's deliveries from now on; it is in the .env only.
    secret = values["JIRA_WEBHOOK_SECRET"]
    assert len(secret) >= 32 and site.sender.protocol.secret == secret and secret not in out
    assert "screens" in out
    capsys.readouterr()
    before = posts(sandbox)
    assert install("jira", "--webhook-url", JI_HOOK) == 0
    assert posts(sandbox) == before and dotenv_values(setup)["JIRA_WEBHOOK_SECRET"] == secret
    assert sandbox.sandbox.report()["rejected"] == []


def test_check_passes_on_what_install_created(setup, sandbox, capsys):
    assert install("zendesk", "--webhook-url", ZD_HOOK) == 0
    assert install("jira", "--webhook-url", JI_HOOK) == 0
    capsys.readouterr()
    assert main(["check"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "zendesk: ids, fields, permissions and webhook ok" in out
    assert "jira: ids, fields, permissions and webhook ok" in out
    assert not (setup.parent / "s.db").exists()  # check creates no database
    assert sandbox.sandbox.report()["rejected"] == []


def test_install_needs_a_webhook_url(setup, capsys):
    assert install("zendesk") == 2
    assert "--webhook-url is required (or set SLACLOCK_PUBLIC_URL)" in capsys.readouterr().err


def test_env_file_update_keeps_other_lines_and_quotes(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# comment\nA=1\n\nexport B=old\nB=dup\n")
    assert update_env_file(path, {"B": "new value", "C": "x"}) == ["B", "C"]
    assert path.read_text() == '# comment\nA=1\n\nB="new value"\nC=x\n'
    assert update_env_file(path, {"B": "new value"}) == []
    assert dotenv_values(path)["B"] == "new value" and oct(path.stat().st_mode & 0o777) == "0o600"


def test_what_install_created_carries_a_ticket_through_slaclock(setup, sandbox, capsys):
    """The fields and the webhook work: the sandbox's next delivery goes to the installed endpoint, signed with the
    secret install wrote, and slaclock's connector, built from the .env, verifies it and reads the reason code from
    the created drop-down."""
    from tests.sandbox_support import Receiver

    receiver = Receiver()
    try:
        _deliver_and_read(setup, sandbox, receiver)
    finally:
        receiver.close()


def _deliver_and_read(setup, sandbox, receiver) -> None:
    from datetime import datetime, timezone

    import requests

    from rules import load_rules
    from zendesk.connector import ZendeskConnector
    from zendesk.settings import ZendeskSettings

    assert install("zendesk", "--webhook-url", receiver.url) == 0
    env = {k: v or "" for k, v in dotenv_values(setup).items()}
    connector = ZendeskConnector(ZendeskSettings.from_env(env, load_rules(env["SLACLOCK_RULES"])))
    answer = requests.post(f"{sandbox.url}/api/v2/tickets.json", auth=(f"{ZD_CFG.api_email}/token", ZD_CFG.api_token),
                           json={"ticket": {"subject": "Part missing", "comment": {"body": "No screws"},
                                            "custom_fields": [{"id": int(env["ZENDESK_REASON_FIELD_ID"]),
                                                               "value": "missing_part"}]}}, timeout=10)
    assert answer.status_code == 201
    headers, body = receiver.wait_for(1)[0]
    connector.verify(headers, body, datetime.now(timezone.utc))  # raises SignatureError on a wrong secret
    event = connector.parse(headers, body)
    assert connector.fetch_ticket(event.ticket_id).reason_code == "missing_part"
    assert sandbox.sandbox.report()["rejected"] == []


def test_the_trigger_variant_creates_a_trigger_webhook_and_the_trigger(setup, sandbox, capsys, monkeypatch):
    from zendesk.webhook import TRIGGER_TEMPLATE

    monkeypatch.setenv("JIRA_URL", "")  # Zendesk only (the environment wins over the .env)
    assert install("zendesk", "--webhook-url", ZD_HOOK, "--trigger") == 0
    admin = sandbox.sandbox.zendesk.admin
    [hook] = admin.webhooks.values()
    assert hook.body["name"] == "slaclock (trigger)" and hook.body["subscriptions"] == ["conditional_ticket_events"]
    [trigger] = admin.triggers
    # The documented action: notification_webhook with [webhook id, the JSON body as a string].
    assert trigger["actions"] == [{"field": "notification_webhook", "value": [hook.body["id"], TRIGGER_TEMPLATE]}]
    assert {c["value"] for c in trigger["conditions"]["any"]} == {"Create", "Change"}
    assert dotenv_values(setup)["ZENDESK_WEBHOOK_SECRET"] == hook.secret
    before = posts(sandbox)
    assert install("zendesk", "--webhook-url", ZD_HOOK, "--trigger") == 0
    assert posts(sandbox) == before
    capsys.readouterr()
    assert main(["check"]) == 0, capsys.readouterr().err
    trigger["active"] = False
    assert main(["check"]) == 1
    assert (f"error: zendesk: webhook {hook.body['id']} is connected to triggers but no active trigger notifies it"
            in capsys.readouterr().err)
    assert sandbox.sandbox.report()["rejected"] == []


def test_install_without_admin_rights_names_the_fix(setup, sandbox, capsys):
    sandbox.sandbox.jira.config.api_is_admin = False
    assert install("jira", "--webhook-url", JI_HOOK) == 1
    err = capsys.readouterr().err
    assert "error: jira:" in err and "install needs an admin's credentials" in err
    assert "JIRA_REASON_FIELD_ID" not in setup.read_text()


def test_the_demo_scenario_runs_on_what_install_created(tmp_path):
    """A running stack set up by `install` alone: after it, serve and worker restart with the .env it wrote; the
    sandbox now signs with the webhook's new secret, tickets carry the reason on the created drop-down, and slaclock
    routes them by it and writes the due time into the created text field."""
    from app import parser
    from jobs.demo import SCENARIO, Stack, wait_until
    from tests.stacks import assert_nothing_refused

    with Stack(tmp_path) as stack:
        env_file = tmp_path / "installed.env"
        env = {**stack.env, "ZENDESK_WEBHOOK_SECRET": ""}  # what install must supply
        args = parser().parse_args(["install", "zendesk", "--webhook-url", f"{stack.receiver_url}/webhooks/zendesk",
                                    "--env-file", str(env_file)])
        assert args.func(args, env) == 0
        stack.env.update({k: v or "" for k, v in dotenv_values(env_file).items()})
        for name in ("serve", "worker"):  # stopped cleanly, so no gunicorn worker of the old serve lingers
            process = stack.processes.pop(name)
            process.terminate()
            process.wait(10)
        stack._spawn("serve", "-m", "app", "serve", "--port", str(stack.receiver_port), "--workers", "1")
        stack.start_worker()
        reason_field, due_field = int(stack.env["ZENDESK_REASON_FIELD_ID"]), int(stack.env["ZENDESK_DUE_FIELD_ID"])
        wait_until(lambda: stack.http.get(f"{stack.receiver_url}/readyz", timeout=1).ok, 20, "the receiver")
        tickets = {}
        for subject, priority, code in SCENARIO:
            body = {"ticket": {"subject": subject, "comment": {"body": subject}, "priority": priority,
                               "custom_fields": [{"id": reason_field, "value": code}]}}
            tickets[code] = str(stack._post("/_sandbox/agent/tickets", body)["ticket"]["id"])
        stack.settle()
        for code, ticket_id in tickets.items():
            routing = stack.rules.routing
            assert stack.team_of(ticket_id) == routing.reason_codes.get(code, routing.default_team), code
            due = {f["id"]: f["value"] for f in stack.ticket(ticket_id)["custom_fields"]}.get(due_field)
            assert due and due.endswith("Z"), (code, due)
        # The deliveries themselves were accepted (signed with the secret install read back), not only the
        # reconciler's reads: the inbox holds a webhook per ticket at least.
        assert sum(Store(stack.database).delivery_counts().values()) >= len(SCENARIO)
        assert "signature" not in stack.log("serve").lower()
        assert_nothing_refused(stack)


MISSING_FIELDS = """
[resolution_path]
field = { zendesk = "999999", jira = "customfield_99999" }
title = "Resolution path"

[vendor]
eta_field = { zendesk = "360003", jira = "customfield_10063" }
"""


@pytest.mark.parametrize("helpdesk, hook, missing, present, where", [
    ("zendesk", ZD_HOOK, "Zendesk ticket field 999999 (resolution_path.field.zendesk), which this account does not "
                         "have", "360003", "Admin Center → Objects and rules → Tickets → Fields"),
    ("jira", JI_HOOK, "Jira field customfield_99999 (resolution_path.field.jira), which this site does not have",
     "customfield_10063", "Settings → Issues → Custom fields"),
])
def test_install_names_the_fields_the_rules_read_that_the_helpdesk_lacks(setup, sandbox, capsys, helpdesk, hook,
                                                                         missing, present, where):
    rules = dotenv_values(setup)["SLACLOCK_RULES"]
    with open(rules, "a") as file:
        file.write(MISSING_FIELDS)
    assert install(helpdesk, "--webhook-url", hook, "--dry-run") == 0
    to_do = capsys.readouterr().out.split("still to do by hand:\n", 1)[1].splitlines()
    [line] = [t for t in to_do if "the rules file names" in t]
    assert line == (f"  - the rules file names {missing}: create the field ({where}) and put its id in the rules "
                    f"file in place of {missing.split()[2 if helpdesk == 'jira' else 3]}, or turn the rule off; "
                    "until then each solve is put back, as the resolution path cannot be filled in")
    assert present not in "\n".join(to_do), "a field the helpdesk has is no to-do"


@pytest.mark.parametrize("helpdesk, hook", [("zendesk", ZD_HOOK), ("jira", JI_HOOK)])
def test_install_on_the_sandbox_with_the_example_rules_lacks_no_field(setup, sandbox, capsys, helpdesk, hook):
    from rules import EXAMPLE_RULES

    rules = dotenv_values(setup)["SLACLOCK_RULES"]
    open(rules, "w").write(EXAMPLE_RULES.read_text(encoding="utf-8"))
    assert install(helpdesk, "--webhook-url", hook, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "still to do by hand" in out and "the rules file names" not in out

"""The rules file: the example is valid; every error names file, key path, value and what is allowed."""
from datetime import timedelta

import pytest

from rules import EXAMPLE_RULES, RulesError, load_rules, parse_rules
from rules.policy import target_for

MINIMAL = '[teams.support]\n'


def errors_of(text: str, source: str = "rules.toml") -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def test_example_rules_are_valid_and_carry_the_seed_defaults():
    rules = load_rules()
    assert load_rules(EXAMPLE_RULES) == rules
    for priority, hours in {"urgent": 4, "high": 24, "normal": 72, "low": 168}.items():
        assert target_for(rules, "resolution", priority, None)[0] == timedelta(hours=hours)  # seed 002
    assert rules.sla.calendar_by_priority.urgent == "24x7"  # seed 001
    assert rules.sla.default_calendar == "business"
    assert set(rules.sla.pause_statuses) == {"pending", "hold"}
    assert rules.routing.reason_codes["missing_part"] == "purchasing"
    assert rules.teams["branch_manager"].zendesk.assignee_id == "3004"
    assert rules.escalation.tag == "slaclock_escalate"
    assert rules.connectors.zendesk.due_field_id == "360002"
    assert rules.calendar("business").holiday_country == "US"


def test_example_rules_export_a_json_schema():
    schema = type(load_rules()).model_json_schema()
    assert "calendars" in schema["properties"]


def test_minimal_file_uses_seed_002_on_24x7():
    rules = parse_rules(MINIMAL)
    assert rules.sla.default_calendar == "24x7"
    assert target_for(rules, "resolution", "low", None)[0] == timedelta(hours=168)
    assert rules.calendar("24x7").always_open


def test_v1_resolution_hours_still_read():
    rules = parse_rules(MINIMAL + "[sla.resolution_hours]\nurgent = 2\n")
    assert target_for(rules, "resolution", "urgent", None) == (timedelta(hours=2), "sla.resolution_hours.urgent")
    assert target_for(rules, "resolution", "normal", None)[0] == timedelta(hours=72)


def test_unknown_priority_names_file_path_and_allowed():
    errors = errors_of(MINIMAL + '[sla.targets]\nurgentt = { resolution = 4 }\n'
                       'urgent = { resolution = 4 }\nhigh = { resolution = 4 }\nnormal = { resolution = 4 }\n'
                       'low = { resolution = 4 }\n')
    assert errors == ["rules.toml: sla.targets.urgentt: unknown priority; expected one of low, normal, high, urgent"]


@pytest.mark.parametrize("snippet,expected", [
    ('[sla]\nfoo = 1\n', "rules.toml: sla.foo: unknown key; expected one of default_calendar, "),
    ('[sla.targets.normal]\nresolutoin = 4\n', "rules.toml: sla.targets.normal.resolutoin: unknown metric; expected one of first_response, next_update, next_reply, resolution"),
    ('[sla.targets.normal]\nresolution = "4 hours"\n', 'rules.toml: sla.targets.normal.resolution: got "4 hours"; expected a positive number of hours or a duration like "30m"'),
    ('[sla.targets.normal]\nresolution = -1\n', "rules.toml: sla.targets.normal.resolution: got -1; expected a positive number"),
    ('[sla]\non_reopen = "restart"\n', 'rules.toml: sla.on_reopen: got "restart"; input should be \'resume\' or \'new_cycle\'; expected "resume"'),
    ('[sla]\npause_statuses = ["waiting"]\n', 'rules.toml: sla.pause_statuses[0]: got "waiting"; input should be'),
    ('[sla]\npause_statuses = ["solved"]\n', "rules.toml: sla: pause_statuses: got solved, also in stop_statuses"),
    ('[sla.recompute]\npriority = "rebase"\n', 'rules.toml: sla.recompute.priority: got "rebase"; input should be \'rederive\' or \'carry\''),
    ('[calendars.b]\ntimezone = "Mars/Olympus"\nalways_open = true\n', 'rules.toml: calendars.b.timezone: got "Mars/Olympus"; expected an IANA time zone'),
    ('[calendars.b]\nalways_open = true\n', "rules.toml: calendars.b.timezone: missing; expected an IANA time zone like Europe/Berlin"),
    ('[calendars.b]\ntimezone = "UTC"\n', "rules.toml: calendars.b: no working hours; expected [calendars.<name>.hours]"),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nhours = { mon = ["09:00-17:00"] }\n', "rules.toml: calendars.b: got both hours and always_open = true"),
    ('[calendars.b]\ntimezone = "UTC"\nhours = { mon = ["9:00-17:00"] }\n', 'rules.toml: calendars.b.hours.mon[0]: got "9:00-17:00"; expected "HH:MM-HH:MM" with start before end, end may be 24:00'),
    ('[calendars.b]\ntimezone = "UTC"\nhours = { mon = ["17:00-09:00"] }\n', 'rules.toml: calendars.b.hours.mon[0]: got "17:00-09:00"'),
    ('[calendars.b]\ntimezone = "UTC"\nhours = { mon = ["24:00-24:00"] }\n', 'rules.toml: calendars.b.hours.mon[0]: got "24:00-24:00"'),
    ('[calendars.b]\ntimezone = "UTC"\nhours = { mon = ["09:00-12:00", "11:00-13:00"] }\n', "rules.toml: calendars.b.hours.mon: got 09:00-12:00 and 11:00-13:00, which overlap"),
    ('[calendars.b]\ntimezone = "UTC"\nhours = { monday = ["09:00-17:00"] }\n', "rules.toml: calendars.b.hours.monday: unknown weekday; expected one of mon, tue, wed, thu, fri, sat, sun"),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nholidays = { country = "XX" }\n', 'rules.toml: calendars.b.holidays.country: got "XX"; expected an ISO 3166 code'),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nholidays = { country = "AU", subdivision = "XX" }\n', 'rules.toml: calendars.b.holidays.subdivision: got "XX"; expected one of ACT, NSW, NT, QLD, SA'),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nclosures = ["Christmas"]\n', 'rules.toml: calendars.b.closures[0]: got "Christmas"; input should be a valid date'),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nclosures = [2026-12-24]\nextra_working_days = { 2026-12-24 = ["09:00-12:00"] }\n', "rules.toml: calendars.b.closures: got 2026-12-24, also in extra_working_days"),
    ('[calendars.b]\ntimezone = "UTC"\nalways_open = true\nextra_working_days = { 2026-12-27 = [] }\n', "rules.toml: calendars.b.extra_working_days: 2026-12-27: got []; expected at least one interval"),
    ('[sla]\ndefault_calendar = "office"\n', 'rules.toml: sla.default_calendar: got "office", which names no calendar; expected one of 24x7'),
    ('[sla.calendar_by_priority]\nurgent = "nights"\n', 'rules.toml: sla.calendar_by_priority.urgent: got "nights", which names no calendar'),
    ('[sla.metrics.resolution]\ncalendar = "wall"\n', 'rules.toml: sla.metrics.resolution.calendar: got "wall", which names no calendar'),
    ('[sla.calendar_by_priority]\ncritical = "24x7"\n', "rules.toml: sla.calendar_by_priority.critical: unknown priority; expected one of low, normal, high, urgent"),
    ('[sla]\ndefault_tier = "gold"\n', 'rules.toml: sla.default_tier: got "gold", which names no tier'),
    ('[tiers.gold]\ncalendar = "x"\n', 'rules.toml: tiers.gold.calendar: got "x", which names no calendar'),
    ('[tiers.gold]\norganizations = [1]\n[tiers.silver]\norganizations = ["1"]\n', 'rules.toml: tiers.silver.organizations: got "1", already in tiers.gold'),
    ('[tiers.gold]\ncolour = "gold"\n', "rules.toml: tiers.gold.colour: unknown key; expected one of organizations, tags, calendar, calendar_by_priority, targets"),
    ('[teams.support]\ncalendar = "x"\n', 'rules.toml: teams.support.calendar: got "x", which names no calendar'),
    ('[routing.reason_codes]\nmissing_part = "purchasing"\n', 'rules.toml: routing.reason_codes.missing_part: got "purchasing", which names no team; expected one of support'),
    ('[sla.targets]\nnormal = { resolution = 4 }\n', "rules.toml: sla.targets.low: no resolution target; expected resolution = "),
    ('[sla.resolution_hours]\nnormal = 4\n[sla.targets]\nnormal = { resolution = 4 }\n', "rules.toml: sla.resolution_hours: got both resolution_hours (v1) and targets"),
    ('[teams.support.zendesk]\ngroup_id = 5\n', "rules.toml: teams.support.zendesk.group_id: got 5; input should be a valid string; expected a helpdesk group id (text)"),
    ('[teams.support.webhook]\nurl_env = "A_URL"\nsecret_env = "A_SECRET"\n', 'rules.toml: teams.support: webhook: only a team of kind = "vendor" tells its own system'),
    ('[teams.acme]\nkind = "vendor"\nwebhook = { url_env = "acme url", secret_env = "S" }\n', 'rules.toml: teams.acme.webhook.url_env: got "acme url"'),
    ("version = \n", "rules.toml: not valid TOML: "),
])
def test_each_error_names_path_value_and_allowed(snippet, expected):
    text = snippet if snippet.startswith("[teams.support]") else MINIMAL + snippet
    errors = errors_of(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_all_errors_reported_at_once():
    text = '''
[sla]
default_calendar = "office"
on_reopen = "again"
[sla.targets]
urgentt = { resolution = 4 }
[calendars.b]
timezone = "Europe/Berln"
hours = { mon = ["x"] }
[routing]
default_team = "nobody"
'''
    errors = errors_of(text, "mine.toml")
    assert all(e.startswith("mine.toml: ") for e in errors)
    paths = {e.split(": ")[1] for e in errors}
    assert {"sla.default_calendar", "sla.on_reopen", "sla.targets.urgentt", "calendars.b.timezone",
            "calendars.b.hours.mon[0]", "routing.default_team", "sla.targets.low"} <= paths


def test_load_rules_missing_file(tmp_path):
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "nope.toml")
    assert "cannot read rules file" in caught.value.errors[0]


def test_load_rules_names_the_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[teams.support]\n[sla]\nbogus = 1\n', encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.errors[0].startswith("site.toml: sla.bogus: unknown key; expected one of ")


def test_durations_accept_numbers_and_text():
    rules = parse_rules(MINIMAL + '[sla.targets]\nurgent = { resolution = "1h30m", first_response = 0.5 }\n'
                        'high = { resolution = "1d" }\nnormal = { resolution = "45m" }\nlow = { resolution = 168 }\n')
    assert target_for(rules, "resolution", "urgent", None)[0] == timedelta(minutes=90)
    assert target_for(rules, "first_response", "urgent", None)[0] == timedelta(minutes=30)
    assert target_for(rules, "resolution", "high", None)[0] == timedelta(hours=24)
    assert target_for(rules, "first_response", "high", None) == (None, "")

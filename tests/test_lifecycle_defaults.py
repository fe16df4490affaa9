"""Issue 15: each item of the case lifecycle is on in the example rules, and the one line its comment names turns
it off (the file still validates). The scenario tests show what each does (README's rules table lists them)."""
import pytest

from rules import EXAMPLE_RULES, Rules, load_rules, parse_rules

TEXT = EXAMPLE_RULES.read_text(encoding="utf-8")
WEBHOOK = ('[teams.acme_parts.webhook]\nurl_env = "SLACLOCK_ACME_PARTS_WEBHOOK_URL"\n'
           'secret_env = "SLACLOCK_ACME_PARTS_WEBHOOK_SECRET"\n')

# item: (the line as shipped, the line that turns it off, is it on?)
SWITCHES = {
    "1 an owner from the first minute": ('owner = "least_loaded"   #', 'owner = "assignee"   #',
                                         lambda r: r.teams["support"].owner == "least_loaded"),
    "2 resolve only when confirmed": ("[confirmation]\nenabled = true ", "[confirmation]\nenabled = false",
                                      lambda r: r.confirmation.enabled),
    "3 roles on every change": ("enforce = true   #", "enforce = false   #", lambda r: r.roles.enforce),
    "4 resolution path required": ("[resolution_path]\nenabled = true ", "[resolution_path]\nenabled = false",
                                   lambda r: r.resolution_path.enabled and bool(r.resolution_path.field)),
    "5 post-incident review": ("[post_incident]\nenabled = true ", "[post_incident]\nenabled = false",
                               lambda r: r.post_incident.enabled),
    "6 what an escalation request carries": ("[escalation.request]\nenabled = true ",
                                             "[escalation.request]\nenabled = false",
                                             lambda r: r.escalation.request.enabled
                                             and len(r.escalation.request.fields) == 3),
    "7 bouncing tickets": ("[bouncing]\nenabled = true ", "[bouncing]\nenabled = false", lambda r: r.bouncing.enabled),
    "8 tell the vendor's own system": (WEBHOOK, "", lambda r: r.teams["acme_parts"].webhook is not None),
    "9 resolution on the wall clock": ('[sla.metrics.resolution]\ncalendar = "24x7"\n', "[sla.metrics.resolution]\n",
                                       lambda r: r.sla.metrics.resolution.calendar == "24x7"),
}


@pytest.mark.parametrize("item", SWITCHES)
def test_each_item_is_on_in_the_example_and_one_line_turns_it_off(item):
    shipped, off, is_on = SWITCHES[item]
    assert TEXT.count(shipped) == 1, f"{item}: the shipped line is not where the comment says"
    rules: Rules = load_rules()
    assert is_on(rules), f"{item} is off in the example rules"
    assert not is_on(parse_rules(TEXT.replace(shipped, off))), f"{item}: the documented line does not turn it off"

"""The engine's shortcuts decide as the plain way does, over a seeded mix of tickets: normal and urgent, escalated
by hand and by thresholds, paused, solved and reopened, at a vendor, with OLA budgets and with carried bases."""
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from jobs.demo import agent_fields
from rules import EXAMPLE_RULES, VendorUpdate, decide, engine, load_rules, metrics, parse_rules
from rules.engine import clock_view

TEXT = EXAMPLE_RULES.read_text(encoding="utf-8")
VARIANTS = {
    "example": load_rules(),
    "ola": parse_rules(TEXT.replace("# [ola]\n# warn_percent = 75\n# budgets =", "[ola]\nwarn_percent = 75\nbudgets =")),
    "carry": parse_rules(TEXT.replace('priority = "rederive"\ntier = "rederive"', 'priority = "carry"\ntier = "carry"')),
    "new_cycle": parse_rules(TEXT.replace('on_reopen = "resume"', 'on_reopen = "new_cycle"')),
}
STATUSES = ["open", "open", "pending", "hold", "solved", "open", "new", "closed"]
PRIORITIES = ["low", "normal", "high", "urgent", None]
CODES = ["missing_part", "wrong_item", "site_not_ready", "defect", None]
TEXTS = ["hello", "there is smoke from the unit", "charged twice", "yes fixed thanks", "no still broken"]


def walk(rules, rng: random.Random, number: int):
    """(ticket, now, memory, inputs) of each decision of one ticket's made-up life."""
    opened = datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(300 * 86_400))
    connector = rng.choice(["zendesk", "jira"])
    ticket = Ticket(connector, str(number), rng.choice(["new", "open"]), rng.choice(PRIORITIES), opened,
                    reason_code=rng.choice(CODES), organization_id=rng.choice([None, "1", "500"]),
                    subject=rng.choice(TEXTS), custom_fields=agent_fields(rules, connector) if rng.random() < .5 else {})
    now, memory = opened + timedelta(minutes=rng.choice([0, 5, 30])), None
    for _ in range(rng.randrange(1, 12)):
        inputs, r = {}, rng.random()
        if r < 0.2:
            inputs["agent_reply_at"] = now
        elif r < 0.3:
            inputs.update(customer_message_at=now, customer_message_text=rng.choice(TEXTS))
        elif r < 0.34:
            inputs["vendor_update"] = VendorUpdate(at=now, eta=now + timedelta(hours=rng.choice([2, 60])))
        change = rng.random()
        if change < 0.25:
            ticket = replace(ticket, status=rng.choice(STATUSES), updated_at=now)
        elif change < 0.33:
            ticket = replace(ticket, tags=ticket.tags | {"slaclock_escalate"}, updated_at=now)
        elif change < 0.38:
            ticket = replace(ticket, priority=rng.choice(PRIORITIES), updated_at=now)
        yield ticket, now, memory, inputs
        d = decide(ticket, rules, now, memory, **inputs)
        memory = d.memory
        ticket = replace(ticket, priority=d.priority, tags=(ticket.tags - d.tags_remove) | d.tags_add,
                         group_id=d.group_id or ticket.group_id, status=d.status or ticket.status)
        later = d.next_action_at if d.next_action_at and rng.random() < 0.6 else None
        now = later or now + timedelta(minutes=rng.choice([7, 30, 90, 300, 1500, 4000]))


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_retargeted_clock_decides_as_one_worked_out_afresh(variant, monkeypatch):
    """A level that moves the team without changing a deadline re-derives the clock: its runs only gain a segment
    (`metrics._extended`), and the escalator does not run over it again (it could reach nothing new). Each decision
    and its clock are the ones worked out afresh, with a second escalator run."""
    rules, rng = VARIANTS[variant], random.Random(11)
    cases = [case for number in range(60) for case in walk(rules, rng, number)]
    same, extended, skipped, grown = engine._same_deadlines, metrics._extended, [], []
    monkeypatch.setattr(engine, "_same_deadlines", lambda before, after: skipped.append(same(before, after)) or
                        skipped[-1])
    monkeypatch.setattr(metrics, "_extended", lambda *args: grown.append(extended(*args)) or grown[-1])
    fast = [clock_view(ticket, rules, now, memory, **inputs) for ticket, now, memory, inputs in cases]
    monkeypatch.setattr(engine, "_same_deadlines", lambda before, after: False)
    monkeypatch.setattr(metrics, "_extended", lambda *args: None)
    plain = [clock_view(ticket, rules, now, memory, **inputs) for ticket, now, memory, inputs in cases]
    assert skipped.count(True) >= 5 and skipped.count(False) >= 5
    assert sum(run is not None for run in grown) >= 5
    assert [d for _, d in fast] == [d for _, d in plain]
    assert [(view.runs, view.memory) for view, _ in fast] == [(view.runs, view.memory) for view, _ in plain]

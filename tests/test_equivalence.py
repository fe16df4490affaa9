"""The equivalence walks (tests/equivalence.py) in small: per-rules tables and caches change no decision; the
shortcuts' edge cases."""
import copy
from datetime import UTC, datetime, timedelta

from connectors.model import Ticket
from rules import decide, load_rules
from tests.equivalence import rules_sets, walk


def test_walks_decide_alike_on_fresh_rules_and_on_rules_many_tickets_used():
    shared = rules_sets()
    seeds = range(36)
    warm = {seed: walk(seed, 8, shared) for seed in reversed(seeds)}
    for seed in seeds:
        fresh = {name: copy.copy(rules) for name, rules in shared.items()}  # a copy builds its tables afresh
        assert walk(seed, 8, fresh) == warm[seed]
    assert sum(len(w) for w in warm.values()) == 8 * len(seeds)


def test_a_priority_raised_at_the_instant_of_the_decision_reaches_the_new_targets_thresholds_at_once():
    # The clock's used time counts the new basis only once it started before now; the thresholds the raised
    # priority's shorter target puts in the past are reached all the same (a case escalated by a trigger).
    rules, opened = load_rules(), datetime(2026, 6, 2, 9, tzinfo=UTC)  # a Tuesday, business hours
    ticket = Ticket("zendesk", "7", "open", "high", opened, reason_code="damage")
    first = decide(ticket, rules, opened + timedelta(minutes=5))
    now = opened + timedelta(hours=1)
    raised = decide(Ticket("zendesk", "7", "open", "high", opened, reason_code="damage", updated_at=now,
                           tags=frozenset({"safety"})), rules, now, first.memory)
    assert raised.priority == "urgent"
    assert {"threshold:first_response:1:50", "threshold:first_response:1:75",
            "threshold:first_response:1:100"} <= set(raised.memory.fired)

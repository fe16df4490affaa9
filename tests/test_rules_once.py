"""Per-rules work done once (`Rules.once`): a copy builds its own, and warm caches decide as cold ones do."""
import random
from datetime import datetime, timedelta, timezone

from connectors.model import Ticket
from rules import decide, load_rules
from rules.escalation import BREACH_POINT, thresholds_of
from rules.schema.escalation import Thresholds


def test_a_copy_of_the_rules_builds_its_own_tables():
    rules = load_rules()
    assert [label for *_, label in thresholds_of(rules, "resolution")] == ["50", "75", "90", "100"]
    silent = rules.model_copy(update={"escalation": rules.escalation.model_copy(update={"thresholds": Thresholds()})})
    assert thresholds_of(silent, "resolution") == ((None, BREACH_POINT, "100"),)
    assert [label for *_, label in thresholds_of(rules, "resolution")] == ["50", "75", "90", "100"]


def test_rules_stay_equal_once_their_tables_are_built():
    warm = load_rules()
    opened = datetime(2026, 6, 1, 13, tzinfo=timezone.utc)
    decide(Ticket("zendesk", "1", "open", "urgent", opened), warm, opened + timedelta(hours=2))
    assert warm == load_rules()


def test_rules_used_for_many_tickets_decide_as_fresh_ones():
    warm, rng = load_rules(), random.Random(3)
    base = datetime(2026, 1, 5, tzinfo=timezone.utc)
    for i in range(12):
        opened = base + timedelta(seconds=rng.randrange(300 * 86_400))
        ticket = Ticket("zendesk" if i % 2 else "jira", str(i), "open", rng.choice(["low", "normal", "high", "urgent"]),
                        opened, reason_code=rng.choice(["missing_part", "defect", None]),
                        tags=frozenset({"slaclock_escalate"}) if i % 3 == 0 else frozenset())
        at = opened + timedelta(hours=rng.choice([1, 5, 30]))
        first = decide(ticket, warm, at - timedelta(minutes=30))
        assert decide(ticket, warm, at, first.memory) == decide(ticket, load_rules(), at, first.memory)

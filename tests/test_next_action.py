"""What falls due at `next_action_at`, in words (`Decision.next_action`): hand-computed on the example rules."""
from datetime import datetime, timedelta, timezone

import pytest

from connectors.model import Ticket
from rules import decide, load_rules, wording
from rules.effects import Effects
from rules.schema import Threshold

RULES = load_rules()
OPENED = datetime(2026, 11, 4, 10, 0, tzinfo=timezone.utc)  # a Wednesday, 05:00 in New York


def _at(minutes: float) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def test_an_urgent_case_names_each_next_step_of_its_clock():
    # Urgent: 24x7, first response in 30 min, resolution in 4 h, a tech-lead ticket after 1 h (wall clock).
    # First response: 50 % warns at 15 min, 75 % climbs to L2 at 22.5 min, the breach at 30 min; then the tech-lead
    # milestone at 60 min; resolution: 50 % at 2 h, 75 % at 3 h, 90 % at 3 h 36 min, the breach at 4 h; then the
    # customer update 4 h after the one the breach sent.
    ticket = Ticket("zendesk", "1", "open", "urgent", OPENED, reason_code="damage")
    d = decide(ticket, RULES, _at(5))
    seen = [(d.next_action_at, d.next_action)]
    for _ in range(8):
        d = decide(ticket, RULES, d.next_action_at, d.memory)
        seen.append((d.next_action_at, d.next_action))
    assert seen == [(_at(15), "warning at 50 % of first response"),
                    (_at(22.5), "escalation at 75 % of first response"),
                    (_at(30), "first response breach"),
                    (_at(60), "tech-lead ticket"),
                    (_at(120), "warning at 50 % of resolution"),
                    (_at(180), "escalation at 75 % of resolution"),
                    (_at(216), "escalation at 90 % of resolution"),
                    (_at(240), "resolution breach"),
                    (_at(480), "customer update")]


def test_a_normal_case_waits_for_business_hours():
    # Normal: 8 business hours to a first response; the calendar opens at 08:00 New York (13:00 UTC): 50 % is 4 h on.
    d = decide(Ticket("zendesk", "2", "open", "normal", OPENED, reason_code="missing_part"), RULES, _at(5))
    assert (d.next_action_at, d.next_action) == (_at(7 * 60), "warning at 50 % of first response")


def test_a_solved_case_closes_unless_the_customer_answers():
    # The confirmation loop closes a solved case after its 3-day quiet period.
    d = decide(Ticket("zendesk", "3", "solved", "normal", OPENED, reason_code="missing_part"), RULES, _at(60))
    assert (d.next_action_at, d.next_action) == (_at(60) + timedelta(days=3), "closes unless the customer answers")


def test_a_case_with_nothing_pending_names_nothing():
    d = decide(Ticket("zendesk", "4", "closed", "normal", OPENED), RULES, _at(60))
    assert (d.next_action_at, d.next_action) == (None, None)


@pytest.mark.parametrize("threshold, breach, words", [
    (Threshold(percent=50), False, "warning at 50 % of resolution"),
    (Threshold(percent=75, level="specialist"), False, "escalation at 75 % of resolution"),
    (Threshold(before="2h"), False, "warning 2 h before resolution is due"),
    (Threshold(percent=80, before="30m", level="manager"), False,
     "escalation at 80 % of resolution or 30 min before it is due"),
    (Threshold(percent=100), True, "resolution breach"),
])
def test_a_threshold_still_to_come_in_words(threshold, breach, words):
    assert wording.threshold_ahead("resolution", threshold, breach) == words


def test_effects_keep_the_words_of_the_earliest_look():
    early, late = _at(10), _at(20)
    effects = Effects().add(next_at=late, next_what="customer update").add(next_at=early, next_what="vendor ETA due")
    assert (effects.next_at, effects.next_what) == (early, "vendor ETA due")
    assert (effects + Effects(next_at=late, next_what="later")).next_what == "vendor ETA due"
    assert (effects.add(next_at=early, next_what="a tie").next_what) == "vendor ETA due"  # the first asked stays
    assert Effects().add(next_what="no instant").next_what == ""
    assert wording.ola_ahead("L1 support", warning=True) == "L1 support budget warning"
    assert wording.ola_ahead("L1 support", warning=False) == "L1 support budget used up"

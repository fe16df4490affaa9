"""The demo's "what happened" line: each timeline event in plain words, whatever the event leaves out."""
import pytest

from jobs.demo import TOLD, _wrapped, event_words

TITLES = {"specialist": "L2 specialist"}


@pytest.mark.parametrize("kind, detail, words", [
    ("warning", {"threshold": "75", "metric": "first_response"}, "75 % warning on first response"),
    ("level_change", {"level": "specialist"}, "escalated to L2 specialist"),
    ("level_change", {"level": "manager"}, "escalated to manager"),  # a level the case's ladder no longer has
    ("level_change", {}, "escalated to the next level"),
    ("breach", {"metric": "resolution"}, "resolution breached"),
    ("breach", {}, "the clock breached"),
    ("milestone", {"threshold": "queued"}, "queued until business hours"),
    ("milestone", {"threshold": "tech_lead"}, "tech-lead ticket opened"),
    ("milestone", {"threshold": "site_visit"}, "milestone site visit"),
    ("milestone", {}, "milestone"),
    ("csat", {"rating": {"score": 4, "comment": ""}}, "rated 4 of 5"),
    ("csat", {"rating": {"verdict": "bad"}}, "rated bad"),
    ("csat", {}, "rated"),
    ("post_incident", {}, "post-incident review asked"),
    ("resolution_confirmed", {}, "fix confirmed"),
])
def test_an_event_in_words(kind, detail, words):
    assert event_words(kind, detail, TITLES) == words


def test_every_kind_told_has_words_without_underscores_or_braces():
    for kind in TOLD:
        words = event_words(kind, {}, {})
        assert words and "_" not in words and "{" not in words, (kind, words)


def test_a_long_line_breaks_between_events_under_the_first():
    items = ["queued until business hours", "50 % warning on resolution", "escalated to L2 specialist", "closed"]
    assert _wrapped("  #7: ", items[:1], 20) == "  #7: queued until business hours"  # one event never breaks
    lines = _wrapped("  #7: ", items, 62).splitlines()
    assert lines == ["  #7: queued until business hours, 50 % warning on resolution,",  # 62 with its comma
                     "      escalated to L2 specialist, closed"]
    assert _wrapped("  #7: ", items, 61).splitlines()[0] == "  #7: queued until business hours,"
    assert _wrapped("  #7: ", items, 200) == "  #7: " + ", ".join(items)

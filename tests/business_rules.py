"""The example rules with resolution counted in business hours, as README says: the one line under
[sla.metrics.resolution] deleted. Tests of business-hours resolution clocks run on these."""
from rules import EXAMPLE_RULES, Rules, parse_rules

WALL_CLOCK_LINE = 'calendar = "24x7"\n'
SECTION = "[sla.metrics.resolution]\n"


def business_resolution_rules() -> Rules:
    """The example rules, resolution on the business calendar (urgent still 24×7)."""
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    assert text.count(SECTION + WALL_CLOCK_LINE) == 1, "the one documented line is not where README says"
    return parse_rules(text.replace(SECTION + WALL_CLOCK_LINE, SECTION))

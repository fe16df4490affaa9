"""The pure domain: rules file, SLA clock, routing, priority and escalation. No I/O but reading the rules file."""
from rules.calendar import ALWAYS_OPEN, WorkCalendar
from rules.decision import (Action, BasisChange, CaseMemory, Climb, Deadline, Decision, EscalationState, Reason,
                            StatusChange, TimelineEvent)
from rules.engine import TicketFacts, decide
from rules.explain import explain_clock
from rules.schema import EXAMPLE_RULES, METRICS, PRIORITIES, Rules, RulesError, load_rules, parse_rules

__all__ = ["ALWAYS_OPEN", "Action", "BasisChange", "CaseMemory", "Climb", "Deadline", "Decision", "EXAMPLE_RULES",
           "EscalationState", "METRICS", "PRIORITIES", "Reason", "Rules", "RulesError", "StatusChange",
           "TicketFacts", "TimelineEvent", "WorkCalendar", "decide", "explain_clock", "load_rules", "parse_rules"]

"""The pure domain: rules file, SLA clock, routing, priority and escalation. No I/O but reading the rules file."""
from rules.calendar import ALWAYS_OPEN, WorkCalendar
from rules.decision import BasisChange, CaseMemory, Deadline, Decision, Reason, StatusChange
from rules.engine import TicketFacts, decide
from rules.explain import explain_clock
from rules.schema import EXAMPLE_RULES, METRICS, PRIORITIES, Rules, RulesError, load_rules, parse_rules

__all__ = ["ALWAYS_OPEN", "BasisChange", "CaseMemory", "Deadline", "Decision", "EXAMPLE_RULES", "METRICS",
           "PRIORITIES", "Reason", "Rules", "RulesError", "StatusChange", "TicketFacts", "WorkCalendar",
           "decide", "explain_clock", "load_rules", "parse_rules"]

"""The pure domain: rules file, SLA clock, routing, priority and escalation. No I/O but reading the rules file."""
from rules.calendar import ALWAYS_OPEN, WorkCalendar, parse_instant
from rules.decision import (Action, BasisChange, CaseMemory, Climb, ClusterInfo, CustomerState, Deadline, Decision,
                            EscalationState, HeldMessage, Rating, Reason, StatusChange, TimelineEvent, VendorState,
                            VendorUpdate)
from rules.engine import decide
from rules.explain import explain_clock
from rules.facts import TicketFacts
from rules.recurring import CaseSummary, Cluster, case_summary, recurring_clusters
from rules.schema import EXAMPLE_RULES, METRICS, PRIORITIES, Rules, RulesError, load_rules, parse_rules

__all__ = ["ALWAYS_OPEN", "Action", "BasisChange", "CaseMemory", "CaseSummary", "Climb", "Cluster", "ClusterInfo",
           "CustomerState", "Deadline", "Decision", "EXAMPLE_RULES", "EscalationState", "HeldMessage", "METRICS",
           "PRIORITIES", "Rating", "Reason", "Rules", "RulesError", "StatusChange", "TicketFacts", "TimelineEvent",
           "VendorState", "VendorUpdate", "WorkCalendar", "case_summary", "decide", "explain_clock", "load_rules",
           "parse_instant", "parse_rules", "recurring_clusters"]

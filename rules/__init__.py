"""The pure domain: rules file, SLA clock, routing, priority and escalation. No I/O but reading the rules file."""
from rules.decision import CaseMemory, Decision, Reason
from rules.engine import decide
from rules.schema import EXAMPLE_RULES, Rules, RulesError, load_rules, parse_rules

__all__ = ["CaseMemory", "Decision", "Reason", "decide", "EXAMPLE_RULES", "Rules", "RulesError",
           "load_rules", "parse_rules"]

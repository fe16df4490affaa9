"""The rules file: TOML validated by pydantic models, one module per group of sections.

`values` holds the vocabularies and value types, `sla`, `escalation` and `people` the sections,
`model` the whole file (`Rules`), `references` the checks across sections, `loader` the reading.
"""
from rules.schema.escalation import TEMPLATE_FIELDS, Person, Threshold
from rules.schema.loader import EXAMPLE_RULES, RulesError, load_rules, parse_rules
from rules.schema.model import Rules
from rules.schema.people import (CLUSTER_FIELDS, CUSTOMER_FIELDS, RIGHTS, SEED_ROLE_RIGHTS, VENDOR_FIELDS,
                                 CustomerTemplates, CustomerUpdates, Right, TriggerField)
from rules.schema.values import (BUILTIN_CALENDAR, CONNECTORS, DURATION_HELP, METRICS, PRIORITIES, STATUSES,
                                 compact_duration, field_id, field_value)

__all__ = ["BUILTIN_CALENDAR", "CLUSTER_FIELDS", "CONNECTORS", "CUSTOMER_FIELDS", "CustomerTemplates", "CustomerUpdates", "DURATION_HELP", "EXAMPLE_RULES",
           "METRICS", "PRIORITIES", "Person", "RIGHTS", "Right", "Rules", "RulesError", "SEED_ROLE_RIGHTS", "STATUSES",
           "TEMPLATE_FIELDS", "Threshold", "TriggerField", "VENDOR_FIELDS", "compact_duration", "field_id", "field_value",
           "load_rules", "parse_rules"]

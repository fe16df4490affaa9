"""`slaclock check`'s questions to the helpdesk: every id, field, name, permission and the webhook the settings and the
rules file rely on (checks/zendesk.py, checks/jira.py). Reads only."""
from __future__ import annotations

from typing import Iterator

from rules import Rules
from rules.schema.values import field_id


def rules_fields(rules: Rules, connector: str) -> Iterator[tuple[str, str]]:
    """(rules key, field id) of every custom field the rules file reads in one helpdesk (Rules.field_ids' sources)."""
    refs = [("vendor.eta_field", rules.vendor.eta_field), ("vendor.capacity_field", rules.vendor.capacity_field),
            *((f"triggers.{name}.promised_field", t.promised_field) for name, t in rules.triggers.items()),
            ("customer_updates.timezone_field", rules.customer_updates.timezone_field if rules.customer_updates
             else None),
            ("recurring.product_field", rules.recurring.product_field if rules.recurring else None),
            ("recurring.order_field", rules.recurring.order_field if rules.recurring else None),
            ("post_incident.root_cause_field", rules.post_incident.root_cause_field if rules.post_incident else None),
            ("resolution_path.field", rules.resolution_path.field if rules.resolution_path else None),
            *((f'escalation.request.fields."{name}"', ref)
              for name, ref in (rules.escalation.request.fields if rules.escalation.request else {}).items())]
    for key, ref in refs:
        fid = field_id(ref, connector)
        if fid:
            yield (f"{key}.{connector}" if ref and connector in ref else key), fid
    if rules.sla.tier_field:
        yield "sla.tier_field", rules.sla.tier_field

"""Which tier, team, calendar and targets apply to a ticket — the documented precedence.

Tier (first match wins):
  1. the custom field `sla.tier_field`, when its value names a tier;
  2. a ticket tag listed in `tiers.<t>.tags` (tiers in file order);
  3. the organization id listed in `tiers.<t>.organizations`;
  4. `sla.default_tier` (or no tier).

Calendar (most specific first):
  1. `tiers.<tier>.calendar_by_priority.<priority>`  (tier and priority)
  2. `sla.calendar_by_priority.<priority>`           (priority: seed 001, urgent runs 24×7)
  3. `tiers.<tier>.calendar`                         (the customer's contract)
  4. `teams.<team>.calendar`                         (the working team's hours)
  5. `sla.default_calendar`

Target of a metric: `tiers.<tier>.targets.<priority>.<metric>`, else `sla.targets.<priority>.<metric>`.
"""
from __future__ import annotations

from datetime import timedelta

from rules.facts import TicketFacts
from rules.schema import Rules


def resolve_tier(ticket: TicketFacts, rules: Rules) -> tuple[str | None, str, str]:
    """(tier, rule key path, why) for a ticket."""
    field_id = rules.sla.tier_field
    if field_id:
        value = (ticket.custom_fields or {}).get(field_id)
        if value is not None and str(value) in rules.tiers:
            return str(value), "sla.tier_field", f"custom field {field_id} = {value}"
    tier_tags, by_organization = rules.once("tiers", lambda: _tier_tables(rules))
    tags = ticket.tags
    if tags and not tier_tags.isdisjoint(tags):
        for name, tier in rules.tiers.items():
            matched = sorted(set(tier.tags) & set(tags))
            if matched:
                return name, f"tiers.{name}.tags", f"tag {matched[0]}"
    org = ticket.organization_id
    name = by_organization.get(str(org)) if org is not None else None
    if name is not None:
        return name, f"tiers.{name}.organizations", f"organization {org}"
    if rules.sla.default_tier:
        return rules.sla.default_tier, "sla.default_tier", "default tier"
    return None, "", "no tier"


def _tier_tables(rules: Rules) -> tuple[frozenset[str], dict[str, str]]:
    """Every tier's tags, and the first tier (in file order) listing each organization."""
    by_organization: dict[str, str] = {}
    for name, tier in rules.tiers.items():
        for org in tier.organizations:
            by_organization.setdefault(str(org), name)
    return frozenset(tag for tier in rules.tiers.values() for tag in tier.tags), by_organization


def team_of_group(rules: Rules, connector: str, group_id: str | None) -> str | None:
    """The team whose helpdesk group is `group_id` on this connector (first in file order)."""
    if group_id is None:
        return None
    for name, team in rules.teams.items():
        target = getattr(team, connector, None)
        if target is not None and target.group_id == group_id:
            return name
    return None


def select_calendar(rules: Rules, priority: str, tier: str | None, team: str | None) -> tuple[str, str]:
    """(calendar name, rule key path) by the precedence in this module's docstring (once per rules and key)."""
    return rules.once(("calendar", priority, tier, team), lambda: _select_calendar(rules, priority, tier, team))


def _select_calendar(rules: Rules, priority: str, tier: str | None, team: str | None) -> tuple[str, str]:
    spec = rules.tiers.get(tier) if tier else None
    if spec is not None and getattr(spec.calendar_by_priority, priority):
        return getattr(spec.calendar_by_priority, priority), f"tiers.{tier}.calendar_by_priority.{priority}"
    if getattr(rules.sla.calendar_by_priority, priority):
        return getattr(rules.sla.calendar_by_priority, priority), f"sla.calendar_by_priority.{priority}"
    if spec is not None and spec.calendar:
        return spec.calendar, f"tiers.{tier}.calendar"
    team_spec = rules.teams.get(team) if team else None
    if team_spec is not None and team_spec.calendar:
        return team_spec.calendar, f"teams.{team}.calendar"
    return rules.sla.default_calendar, "sla.default_calendar"


def target_for(rules: Rules, metric: str, priority: str, tier: str | None) -> tuple[timedelta | None, str]:
    """(working-time target, rule key path); None when the metric is not measured (once per rules and key)."""
    return rules.once(("target", metric, priority, tier), lambda: _target_for(rules, metric, priority, tier))


def _target_for(rules: Rules, metric: str, priority: str, tier: str | None) -> tuple[timedelta | None, str]:
    spec = rules.tiers.get(tier) if tier else None
    if spec is not None:
        own = getattr(spec.targets, priority)
        if own is not None and getattr(own, metric) is not None:
            return getattr(own, metric), f"tiers.{tier}.targets.{priority}.{metric}"
    base = getattr(rules.targets(), priority)
    if base is not None and getattr(base, metric) is not None:
        path = "sla.resolution_hours" if rules.sla.resolution_hours is not None else "sla.targets"
        return getattr(base, metric), (f"{path}.{priority}" if path.endswith("hours") else f"{path}.{priority}.{metric}")
    return None, ""

"""Roles (seed 002): who made a change, and whether they may escalate.

An actor's role is, first match wins: `roles.<connector>.users.<user id>`; the person of
`[people]` with that user id, via `roles.people.<person>`; the roles of the actor's groups
(`roles.<connector>.groups.<group id>`; with several, the one with the most rights); else
`roles.default` (default "support", who may escalate, so a file without a role map behaves as
before). A manual escalation (the tag) asked for by a role without `escalate` is refused: the
tag is removed, an internal note says why, the timeline records `refused`, nothing climbs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules import wording
from rules.decision import Action, ActionKind, Reason, TimelineEvent, TimelineKind
from rules.effects import Effects
from rules.frozen import quick_init
from rules.schema import Right, Rules


@quick_init
@dataclass(frozen=True)
class ActorRole:
    """Who made a change, as the role map sees them."""

    role: str
    rights: frozenset[str]
    rule: str  # key path in the rules file
    why: str

    def may(self, right: Right) -> bool:
        return right in self.rights


def actor_role(rules: Rules, connector: str, actor_id: str | None,
               group_ids: frozenset[str] = frozenset()) -> ActorRole:
    """The actor's role by the precedence in this module's docstring."""
    if actor_id is None and not group_ids:  # nobody known (a sweep): the rules' own answer, once per rules
        return rules.once("nobody's role", lambda: _default(rules, "no known actor"))
    roles = rules.roles
    members = getattr(roles, connector, None)
    if actor_id is not None and members is not None and actor_id in members.users:
        role = members.users[actor_id]
        return ActorRole(role, roles.rights_of(role), f"roles.{connector}.users.{actor_id}", f"user {actor_id}")
    if actor_id is not None:
        for person, role in roles.people.items():
            spec = rules.people.get(person)
            if spec is not None and getattr(spec, connector, None) == actor_id:
                return ActorRole(role, roles.rights_of(role), f"roles.people.{person}",
                                 f"user {actor_id} is {spec.name or person}")
    if members is not None:
        matched = [(members.groups[g], g) for g in sorted(group_ids) if g in members.groups]
        if matched:
            role, group = max(matched, key=lambda rg: (len(roles.rights_of(rg[0])), -roles.names().index(rg[0])
                                                       if rg[0] in roles.names() else 0))
            return ActorRole(role, roles.rights_of(role), f"roles.{connector}.groups.{group}", f"group {group}")
    return _default(rules, f"user {actor_id}" if actor_id is not None else "no known actor")


def _default(rules: Rules, who: str) -> ActorRole:
    roles = rules.roles
    return ActorRole(roles.default, roles.rights_of(roles.default), "roles.default", f"{who}: default role")


def refusal(rules: Rules, role: ActorRole, actor_id: str | None, key: str, at: datetime) -> Effects:
    """The note, timeline event and reason of a manual escalation refused for want of `escalate`."""
    allowed = sorted(r for r in rules.roles.names() if "escalate" in rules.roles.rights_of(r))
    text = wording.refusal_note(rules.escalation.tag, actor_id, role.role, role.rule, allowed)
    return Effects(actions=(Action(key, ActionKind.NOTE, text=text),),
                   timeline=(TimelineEvent(TimelineKind.REFUSED, at, key, threshold="manual", text=text),),
                   reasons=(Reason(role.rule, text, "escalation"),), fired=(key,))

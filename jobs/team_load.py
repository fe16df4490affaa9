"""Open tickets per member of a least-loaded team's group (`rules.owner`), read from the helpdesk once per
batch of deliveries: a burst of new cases is spread over the team from one read instead of one read per case
(on Zendesk a read is one call for the members and one search per member)."""
from __future__ import annotations

from connectors.contract import TeamLoad


class TeamLoadCache:
    """Counts per helpdesk, group and project, read once; an owner slaclock picks counts one more at once, so
    the next pick from the same read goes to whoever is least loaded then. The processor keeps one per batch."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], dict[str, int]] = {}

    @staticmethod
    def _key(connector: str, group: str, ticket_id: str) -> tuple[str, str, str]:
        # Jira asks who may be assigned the issue, which its project decides ("SD-42" → "SD"); Zendesk ids
        # have no project part.
        return connector, group, ticket_id.rpartition("-")[0]

    def load(self, name: str, reader: TeamLoad, group: str, ticket_id: str) -> dict[str, int]:
        """User id → open tickets, in the helpdesk's order; raises the reader's ApiError when it cannot read."""
        key = self._key(name, group, ticket_id)
        if key not in self._counts:
            self._counts[key] = dict(reader.open_tickets_per_member(group, ticket_id))
        return dict(self._counts[key])

    def assigned(self, name: str, group: str, ticket_id: str, user_id: str) -> None:
        """Count a case slaclock has just given `user_id` from this group."""
        counts = self._counts.get(self._key(name, group, ticket_id))
        if counts is not None and user_id in counts:
            counts[user_id] += 1

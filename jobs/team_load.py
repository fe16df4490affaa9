"""Open tickets per member of a least-loaded team's group (`rules.owner`), read from the helpdesk at most
once a minute: a burst of new cases is spread over the team from one read instead of one read per case
(on Zendesk a read is one call for the members and one search per member)."""
from __future__ import annotations

from datetime import datetime, timedelta

from connectors.contract import TeamLoad

KEPT = timedelta(minutes=1)


class TeamLoadCache:
    """Counts per helpdesk, group and project, read again once `kept` old; an owner slaclock picks counts one
    more at once, so the next pick from the same read goes to whoever is least loaded then."""

    def __init__(self, kept: timedelta = KEPT):
        self.kept = kept
        self._counts: dict[tuple[str, str, str], tuple[dict[str, int], datetime]] = {}

    @staticmethod
    def _key(connector: str, group: str, ticket_id: str) -> tuple[str, str, str]:
        # Jira asks who may be assigned the issue, which its project decides ("SD-42" → "SD"); Zendesk ids
        # have no project part.
        return connector, group, ticket_id.rpartition("-")[0]

    def load(self, name: str, reader: TeamLoad, group: str, ticket_id: str, now: datetime) -> dict[str, int]:
        """User id → open tickets, in the helpdesk's order; raises the reader's ApiError when it cannot read."""
        key = self._key(name, group, ticket_id)
        cached = self._counts.get(key)
        if cached is None or not cached[1] <= now < cached[1] + self.kept:
            cached = (dict(reader.open_tickets_per_member(group, ticket_id)), now)
            self._counts[key] = cached
        return dict(cached[0])

    def assigned(self, name: str, group: str, ticket_id: str, user_id: str) -> None:
        """Count a case slaclock has just given `user_id` from this group."""
        cached = self._counts.get(self._key(name, group, ticket_id))
        if cached is not None and user_id in cached[0]:
            cached[0][user_id] += 1

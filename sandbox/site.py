"""What both running helpdesks share: a store whose every write goes out as webhooks, the sender that delivers
them, and the API call counts."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Generic

from sandbox.records import Mutation, RecordT, Store
from sandbox.sender import Outgoing, WebhookSender
from sandbox.stats import ApiStats


class HelpdeskSite(Generic[RecordT]):
    """A running fake helpdesk; each helpdesk says how it authenticates and which webhooks a write sends."""

    def __init__(self, store: Store[RecordT], sender: WebhookSender, route_key: Callable[[str, str], str],
                 clock: Callable[[], datetime]):
        self.store, self.sender, self.clock = store, sender, clock
        self.stats = ApiStats(route_key)
        store.subscribe(lambda mutation: sender.enqueue(self.webhooks(mutation)))

    @property
    def credentials(self) -> str:
        """What a valid `Authorization: Basic` header carries."""
        raise NotImplementedError

    def webhooks(self, mutation: Mutation[RecordT]) -> list[Outgoing]:
        """The webhooks one write sends."""
        raise NotImplementedError

    def writes(self) -> dict[str, Any]:
        """What the API user wrote, per ticket (see each site): to count every write of slaclock's at the helpdesk."""
        raise NotImplementedError

    def reset(self) -> None:
        self.store.reset()
        self.sender.reset()
        self.stats.reset()

    def close(self) -> None:
        self.sender.close()

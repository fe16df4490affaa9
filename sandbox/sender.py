"""Webhook delivery for both fake helpdesks: one ordered background thread, bounded retries, lost-webhook fault.

What differs per helpdesk (headers and signature, which statuses count as delivered or are retried, how a
delivery is identified) is a `WebhookProtocol`; the queue, retries and bookkeeping are shared.
"""
from __future__ import annotations

import json
import queue
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

import requests

from sandbox.records import utc_now

MAX_RETRIES = 3


@dataclass(frozen=True)
class Outgoing:
    """One webhook to send: its event id and type, the ticket it is about, and the JSON body."""

    event_id: str
    type: str
    ticket_id: int | str
    body: dict[str, Any]


@dataclass
class Delivery:
    """One webhook invocation and how it went (state: pending, sent, failed, dropped, skipped)."""

    event_id: str
    type: str
    ticket_id: int | str
    invocation_id: str
    state: str = "pending"
    status: int | None = None
    attempts: int = 0
    error: str | None = None


class WebhookProtocol(Protocol):
    """How one helpdesk sends its webhooks."""

    def invocation_id(self, outgoing: Outgoing) -> str:
        """The id of this delivery, unchanged across its retries."""

    def headers(self, delivery: Delivery, body: bytes, attempt: int) -> dict[str, str]:
        """Headers for attempt `attempt` (0 = first try), signature included."""

    def delivered(self, status: int) -> bool:
        """True when the receiver's status counts as a successful delivery."""

    def retryable(self, status: int | None) -> bool:
        """True when a failed attempt (None: no answer) is tried again."""


class WebhookSender:
    """Sign and POST bodies from one background thread, in order, with bounded retries."""

    def __init__(self, url: str | None, protocol: WebhookProtocol, backoff: tuple[float, ...] = (0.1, 0.3, 0.9),
                 max_wait: float = 5.0, timeout: float = 10.0, clock: Callable[[], datetime] = utc_now,
                 name: str = "sandbox-webhooks"):
        self.url, self.protocol = url, protocol
        self.backoff, self.max_wait, self.timeout, self.clock = backoff, max_wait, timeout, clock
        self._http = requests.Session()
        self._queue: queue.Queue[tuple[Delivery, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._records: list[Delivery] = []
        self._unfinished = 0
        self._to_drop = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def enqueue(self, items: list[Outgoing]) -> None:
        """Queue webhooks for delivery; returns at once."""
        for item in items:
            delivery = Delivery(item.event_id, item.type, item.ticket_id, self.protocol.invocation_id(item))
            with self._lock:
                self._records.append(delivery)
                if self.url is None:
                    delivery.state = "skipped"
                    continue
                if self._to_drop:
                    # A lost webhook, as during a helpdesk's delivery incidents: never sent, never retried.
                    self._to_drop -= 1
                    delivery.state = "dropped"
                    continue
                self._unfinished += 1
            self._queue.put((delivery, json.dumps(item.body, separators=(",", ":")).encode("utf-8")))

    def drop_next(self, count: int) -> None:
        """Lose the next `count` deliveries."""
        with self._lock:
            self._to_drop = count

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(delivery) for delivery in self._records]

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [delivery.state for delivery in self._records]
        return {state: states.count(state) for state in ("sent", "pending", "failed", "dropped")}

    def idle(self) -> bool:
        """True when nothing is queued and nothing is in flight."""
        with self._lock:
            return self._unfinished == 0

    def reset(self) -> None:
        """Drop queued deliveries and forget the record."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                with self._lock:
                    item[0].state = "dropped"
                    self._unfinished -= 1
        with self._lock:
            self._records = [delivery for delivery in self._records if delivery.state == "pending"]
            self._to_drop = 0

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            delivery, body = item
            try:
                self._deliver(delivery, body)
            finally:
                with self._lock:
                    self._unfinished -= 1

    def _deliver(self, delivery: Delivery, body: bytes) -> None:
        for attempt in range(MAX_RETRIES + 1):
            headers = self.protocol.headers(delivery, body, attempt)
            retry_after = None
            try:
                response = self._http.post(self.url, data=body, headers=headers, timeout=self.timeout)
                status, error = response.status_code, None
                retry_after = response.headers.get("Retry-After")
            except requests.RequestException as e:
                status, error = None, type(e).__name__
            with self._lock:
                delivery.attempts, delivery.status, delivery.error = attempt + 1, status, error
                if status is not None and self.protocol.delivered(status):
                    delivery.state = "sent"
                    return
                if not self.protocol.retryable(status) or attempt == MAX_RETRIES:
                    delivery.state = "failed"
                    return
            if self._stop.wait(self._wait(attempt, retry_after)):
                return

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        backoff = self.backoff[min(attempt, len(self.backoff) - 1)] if self.backoff else 0.0
        try:
            wait = float(retry_after) if retry_after is not None else backoff
        except ValueError:
            wait = backoff
        return max(0.0, min(wait, self.max_wait))

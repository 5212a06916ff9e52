"""Fan-out of kernel events to WatchEvents subscribers through bounded queues.

The kernel calls the listener synchronously; a full queue drops its oldest event and
counts the loss, so a slow watcher never slows the machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from vmsim_kernel import Event, EventKind, Machine

__all__ = ["EventHub", "Subscription"]

QUEUE_LENGTH = 4096


@dataclass(eq=False)
class Subscription:
    """One watcher's filter and queue."""

    kinds: frozenset[EventKind] | None
    pid: int | None
    queue: asyncio.Queue[tuple[Event, int]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LENGTH)
    )
    dropped: int = 0

    def offer(self, event: Event) -> None:
        """Queue *event* if it passes the filter, dropping the oldest when full."""
        if self.pid is not None and event.pid != self.pid:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((event, self.dropped))


class EventHub:
    """Subscribes to the machine only while someone watches."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self._subscriptions: list[Subscription] = []

    def subscribe(self, kinds: frozenset[EventKind] | None, pid: int | None) -> Subscription:
        """Start a subscription."""
        subscription = Subscription(kinds, pid)
        self._subscriptions.append(subscription)
        self._machine.add_event_listener(subscription.offer, kinds)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """End a subscription."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._machine.remove_event_listener(subscription.offer)

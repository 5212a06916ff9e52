"""Fan-out of kernel events to WatchEvents subscribers through bounded queues.

Like a perf/trace ring buffer (kernel/trace/ring_buffer.c in overwrite mode): the kernel
calls the listener synchronously, and a full queue drops its oldest event and counts the
loss, so a slow watcher never slows the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from vmsim_kernel import Event, EventKind, Machine

__all__ = ["QUEUE_LENGTH", "EventHub", "Subscription"]

QUEUE_LENGTH = 4096


@dataclass(eq=False)
class Subscription:
    """One watcher's filter and queue; None in the queue marks the end of the feed."""

    kinds: frozenset[EventKind] | None
    pid: int | None
    queue: asyncio.Queue[tuple[Event, int] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LENGTH)
    )
    dropped: int = 0

    def offer(self, event: Event) -> None:
        """Queue *event* if it passes the pid filter (the kind filter is the machine's)."""
        if self.pid is not None and event.pid != self.pid:
            return
        self._put((event, self.dropped))

    def end(self) -> None:
        """End the feed: the watcher gets what is queued, then the stream finishes."""
        self._put(None)

    def _put(self, item: tuple[Event, int] | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)

    async def events(self) -> AsyncIterator[tuple[Event, int]]:
        """Events as they come, each with the number dropped before it, until end()."""
        while (item := await self.queue.get()) is not None:
            yield item


class EventHub:
    """Subscribes to the machine only while someone watches."""

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self._subscriptions: list[Subscription] = []

    def __len__(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, kinds: frozenset[EventKind] | None, pid: int | None) -> Subscription:
        """Start a subscription."""
        subscription = Subscription(kinds, pid)
        self._subscriptions.append(subscription)
        self._machine.add_event_listener(subscription.offer, kinds)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """End a subscription (its stream is over)."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._machine.remove_event_listener(subscription.offer)

    def end_all(self) -> None:
        """Finish every watcher's stream (at shutdown, so they need not wait for the grace period)."""
        for subscription in self._subscriptions:
            subscription.end()

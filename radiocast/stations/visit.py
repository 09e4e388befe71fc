"""One connection per station per round: a `Visit` opens the station's link on first use and
every step of the round (deliveries, inventory, playbook, as-run, exit statuses) shares it.

A connection costs a TCP handshake, a key exchange, host-key verification and authentication:
on a 3G link that is seconds, on a hub with hundreds of stations it is most of the CPU.
Steps take an optional `visit`; without one they open and close a link of their own (the CLI,
single commands). A failed connect is kept, so the other steps of the round fail at once
with the same error instead of each dialling a dead station again.

The visit does not know the kinds of link: whoever creates it passes the opener (an SFTP
`StationLink`, or the `OutboxLink` of a station behind NAT).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from radiocast.errors import DeliveryError

L = TypeVar("L", bound=AbstractContextManager[Any])

# Opening a connection is CPU work (key exchange, signatures, the first packets), waiting on a
# slow link is not: the process opens at most this many at once, however many stations are
# being served, so a hundred threads waiting on 3G never become a hundred handshakes competing
# for two cores (and for Python's interpreter lock) on the hub.
HANDSHAKES = threading.BoundedSemaphore(max(2, 2 * (os.cpu_count() or 1)))


class Visit(Generic[L]):
    """A station's link for one round, opened on first use, closed by `close()`."""

    def __init__(self, opener: Callable[[], L]) -> None:
        self.opener = opener
        self.link: L | None = None
        self.failure: DeliveryError | None = None
        self.connects = 0

    def get(self) -> L:
        if self.failure is not None:
            raise self.failure
        if self.link is None:
            link = self.opener()
            try:
                with HANDSHAKES:
                    link.__enter__()
            except DeliveryError as exc:
                self.failure = exc
                raise
            self.connects += 1
            self.link = link
        return self.link

    def close(self) -> None:
        if self.link is not None:
            self.link.__exit__(None, None, None)
            self.link = None

    def __enter__(self) -> Visit[L]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def link_for(visit: Visit[L] | None, opener: Callable[[], L]) -> Iterator[L]:
    """The round's shared link when there is a visit (left open), else a link of its own."""
    if visit is not None:
        yield visit.get()
        return
    with opener() as link:
        yield link

"""One connection per station per round: a `Visit` opens the station's link on first use and
every step of the round (deliveries, inventory, playbook, as-run, exit statuses) shares it.

A connection costs a TCP handshake, a key exchange, host-key verification and authentication:
on a 3G link that is seconds, on a hub with hundreds of stations it is most of the CPU.
Steps take an optional `visit`; without one they open and close a link of their own (the CLI,
single commands). A failed connect is kept, so the other steps of the round fail at once
with the same error instead of each dialling a dead station again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from radiocast.config import Settings, StationSettings
from radiocast.errors import DeliveryError
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import StationLink

Link = StationLink | OutboxLink

# Opening a connection is CPU work (key exchange, signatures, the first packets), waiting on a
# slow link is not: the process opens at most this many at once, however many stations are
# being served, so a hundred threads waiting on 3G never become a hundred handshakes competing
# for two cores (and for Python's interpreter lock) on the hub.
HANDSHAKES = threading.BoundedSemaphore(max(2, 2 * (os.cpu_count() or 1)))


class Visit:
    """A station's link for one round, opened on first use, closed by `close()`."""

    def __init__(self, settings: Settings, station: StationSettings,
                 compress: bool = False) -> None:
        """`compress`: zlib on the wire, for a round that moves only text (no MP3)."""
        self.settings = settings
        self.station = station
        self.compress = compress
        self.link: Link | None = None
        self.failure: DeliveryError | None = None
        self.connects = 0

    def get(self) -> Link:
        if self.failure is not None:
            raise self.failure
        if self.link is None:
            link = _new_link(self.settings, self.station, self.compress)
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

    def __enter__(self) -> Visit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def link_for(settings: Settings, station: StationSettings, visit: Visit | None = None,
             compress: bool = False) -> Iterator[Link]:
    """The round's shared link when there is a visit (left open), else a link of its own."""
    if visit is not None:
        yield visit.get()
        return
    with _new_link(settings, station, compress) as link:
        yield link


def _new_link(settings: Settings, station: StationSettings, compress: bool) -> Link:
    if station.pull:
        return OutboxLink.of(settings, station)
    return StationLink(station, settings.delivery, compress=compress)

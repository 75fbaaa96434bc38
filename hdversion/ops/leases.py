"""Leases in the stores other clones share (model/leases.py): the shared ones every writer
holds while it pushes objects and publishes its tag, the exclusive one prune holds while it
reads the tags and sweeps. The rules and their proof: docs/design-decisions.md, "Leases in
the shared store".

Only stores other clones may share take part (a remote outside the repository, any cloud
remote: `StoreInfo.shared`); the cache and a local remote inside the repository need none.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hdversion.datastore.store import Records
from hdversion.errors import LockedError, RemoteError
from hdversion.model.leases import (
    LEASES_DIR,
    REFRESH_EVERY,
    STALE_AFTER,
    Held,
    Kind,
    Lease,
    live,
    new_key,
)
from hdversion.ops.project import Project
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name
from hdversion.util.log import log

# How often a writer that found a prune's exclusive lease lists the leases again.
POLL_SECONDS = 1.0
# How long a writer waits for a prune's lease to go, whatever its --wait.
MIN_WAIT = 5.0


@dataclass
class Taken:
    """One lease of this run, in one store."""

    store: str  # the remote's name
    records: Records
    name: str  # under LEASES_DIR
    lease: Lease
    held: list[Held] = field(default_factory=list)  # the listing right after ours was written

    @property
    def probe(self) -> float:
        """This lease's time in the store: the store's own clock, a moment ago."""
        return next(h.mtime for h in self.held if h.name == self.name)

    def others(self, kind: Kind) -> list[Held]:
        return live(self.held, self.name, kind)

    def put(self) -> None:
        self.records.put_lease(self.name, self.lease)
        self.held = self.records.leases()
        if not any(h.name == self.name for h in self.held):
            raise RemoteError(f"remote '{self.store}': the lease just written "
                              f"({LEASES_DIR}/{self.name}) is not in its listing")

    def release(self) -> None:
        try:
            self.records.delete_lease(self.name)
        except RemoteError as exc:
            # Harmless but for the store's sweep, which waits until it is stale.
            log.warning("could not remove lease %s/%s from remote '%s': %s (it blocks "
                        "prune's sweep there until stale)", LEASES_DIR, self.name, self.store,
                        exc.message)

    def holders(self, held: list[Held]) -> str:
        named = []
        for h in held:
            lease = self.records.lease(h.name)
            named.append(lease.describe() if lease is not None else f"{LEASES_DIR}/{h.name}")
        return "; ".join(named)

    def of_other_clones(self, held: list[Held]) -> list[Held]:
        """The leases not left by this very clone. None of its writers runs now (the
        caller, prune, holds the repository lock), and the backups they left a lease for
        are among its own tags, which prune reads."""
        own = (self.lease.host, self.lease.clone)
        return [h for h in held
                if (lease := self.records.lease(h.name)) is None
                or (lease.host, lease.clone) != own]


def shared_remotes(project: Project, remotes: Iterable[str]) -> list[tuple[str, Records]]:
    """The remotes among `remotes` that other clones may share, with their records."""
    found: list[tuple[str, Records]] = []
    for name in dict.fromkeys(remotes):
        store = project.store.remote(name)
        if store.records is not None and project.store.store_info(store).shared:
            found.append((name, store.records))
    return found


def _taken(project: Project, remotes: Iterable[str], kind: Kind, operation: str
           ) -> list[Taken]:
    lease = Lease(kind, operation, host_name(), os.getpid(),
                  now_utc().isoformat(timespec="seconds"), str(project.root))
    return [Taken(name, records, new_key(kind), lease)
            for name, records in shared_remotes(project, remotes)]


class _Refresher:
    """Writes a run's leases again every REFRESH_EVERY seconds while it runs, so that no
    long push looks like a dead run's."""

    def __init__(self, taken: list[Taken]) -> None:
        self.taken, self.stop = taken, threading.Event()
        self.thread = threading.Thread(target=self._run, name="lease-refresh", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(REFRESH_EVERY):
            for lease in self.taken:
                with contextlib.suppress(RemoteError):
                    lease.records.put_lease(lease.name, lease.lease)

    def __enter__(self) -> _Refresher:
        if self.taken:
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


@dataclass
class WriterLeases:
    """A writer's shared leases; `keep()` leaves them in place (to expire) when the run ends
    with its tag not on the git remote: other clones cannot see that backup yet."""

    taken: list[Taken]
    kept: bool = False

    def keep(self) -> None:
        self.kept = True

    def lapsed(self, wait: float = 0, skip: Iterable[str] = ()
               ) -> tuple[list[str], dict[str, str]]:
        """The stores where this run's lease may have looked dead to a prune since it was
        last written (the run was stopped or suspended for longer than the refresh keeps
        up with: by the store's clock, older than STALE_AFTER less one refresh), so that a
        prune may have swept objects this run reuses. Each lease is written again first,
        and a prune sweeping there now is waited out (as at the start): from here on, no
        prune sweeps under it. The caller confirms its objects there again before it
        publishes its tag. Not in the stores of `skip` (those its push failed); a store that
        cannot be read now is returned apart, with why (its copy cannot be vouched for)."""
        found: list[str] = []
        failed: dict[str, str] = {}
        for lease in self.taken:
            if lease.store in skip:
                continue
            try:
                before = {h.name: h.mtime for h in lease.records.leases()}
                lease.put()
                then = before.get(lease.name)
                if then is None or lease.probe - then > STALE_AFTER - REFRESH_EVERY:
                    found.append(lease.store)
                _wait_for_prune(lease, wait)
            except RemoteError as exc:
                failed[lease.store] = exc.message
        return found, failed


@contextmanager
def writing(project: Project, remotes: Iterable[str], operation: str, wait: float = 0
            ) -> Iterator[WriterLeases]:
    """Hold a shared lease in each shared store among `remotes` from before the writer lists
    or pushes anything there until its end (or, after `keep()`, until it expires). A live
    exclusive lease (a prune sweeping) is waited out, up to `wait` seconds, else LockedError
    (exit 6): nothing was pushed."""
    leases = WriterLeases([])
    try:
        for lease in _taken(project, remotes, "shared", operation):
            leases.taken.append(lease)
            lease.put()
            _wait_for_prune(lease, wait)
        with _Refresher(leases.taken):
            yield leases
    finally:
        if not leases.kept:
            for lease in leases.taken:
                lease.release()


def _wait_for_prune(lease: Taken, wait: float) -> None:
    # A prune that meets this lease gives its own back at once: a few seconds let that
    # happen even under --wait 0.
    deadline = time.monotonic() + max(wait, MIN_WAIT)
    said = False
    while True:
        pruning = lease.others("exclusive")
        if not pruning:
            return
        if not said and wait > MIN_WAIT:
            log.warning("remote '%s' is being pruned (%s); waiting up to %.0f s",
                        lease.store, lease.holders(pruning), wait)
            said = True
        if time.monotonic() >= deadline:
            raise LockedError(
                f"remote '{lease.store}' is being pruned ({lease.holders(pruning)}): "
                "nothing was pushed there",
                hint="run again when the prune has finished, or pass --wait SECONDS; a lease "
                     "of a prune that died expires 30 minutes after it was written")
        time.sleep(POLL_SECONDS)
        lease.held = lease.records.leases()


@dataclass
class PruneLeases:
    """Prune's exclusive leases, by store name, and why a store may not be swept."""

    taken: dict[str, Taken]
    busy: dict[str, str]  # store -> why it is not swept (live writers)
    # store -> the store's own clock as prune's lease was written there (the grace period is
    # counted back from it, never from this machine's clock)
    store_time: dict[str, float]


@contextmanager
def pruning(project: Project, remotes: Iterable[str]) -> Iterator[PruneLeases]:
    """Hold an exclusive lease in each shared store among `remotes` while prune reads the
    tags and sweeps; a store where a live shared lease of another clone shows is busy (a
    writer may be pushing objects whose tag prune cannot see yet): prune does not sweep it,
    and gives its lease back there at once so as not to hold up the writers."""
    leases = PruneLeases({}, {}, {})
    try:
        for lease in _taken(project, remotes, "exclusive", "prune"):
            leases.taken[lease.store] = lease
            lease.put()
            leases.store_time[lease.store] = lease.probe
            writers = lease.of_other_clones(lease.others("shared"))
            if writers:
                leases.busy[lease.store] = (
                    f"store busy: {len(writers)} writer(s) ({lease.holders(writers)}), "
                    "swept next run")
                lease.release()
                del leases.taken[lease.store]
        yield leases
    finally:
        for lease in leases.taken.values():
            lease.release()

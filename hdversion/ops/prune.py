"""Prune: remove the backups that a retention policy does not keep, then collect the data that
nothing remaining uses, from the cache, the local remote and (when named) a cloud remote.

The order is the safety argument:
0. put an exclusive lease into each shared store (ops/leases.py); a store where a writer's
   lease shows is busy and not swept this run (its writer's tag may not be on the git
   remote yet); a writer that comes later sees prune's lease and waits before it pushes;
1. fetch every backup tag, pin and alias from the git remote (other clones' backups count);
2. decide (model/retention.py), and compute what stays: the files of every kept backup
   (their file lists), what the tag of every backup deleted within the undelete window
   records (model/deleted.py: its tag kept under refs/hdversion/deleted/, its tombstone
   younger than the window; the ones removed now too: their outputs, a directory's files
   by its listing), and what DVC says the workspace, the branch heads, every other tag and
   every pin use;
3. check that every kept backup is whole in the stores at hand; stop if not, before any
   deletion;
4. delete the removed backups' tags on the git remote, then here (a tag left on the remote
   would come back with the next fetch, its data gone), each leaving a tombstone and its
   tag object kept for undelete;
5. sweep each store: delete what it holds that nothing keeps. In a store other clones may
   share, an object younger than the grace period (by the store's clock) stays too: a
   second line of defence, for a writer older than the leases.
6. expire the tombstones older than the window and TOMBSTONE_MARGIN, on the git remote
   then here.
A kill at any instant leaves every kept backup whole; running prune again sweeps what is
left (the sweep needs no memory of what was removed).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from hdversion.datastore.store import CacheStore, Store, StoredObject, StoreInfo
from hdversion.errors import (
    ConfigurationError,
    DataStoreError,
    ManifestError,
    PartialError,
    RemoteError,
    UsageError,
    VerificationError,
)
from hdversion.model.aliases import aliases_by_tag
from hdversion.model.catalog import Backup
from hdversion.model.deleted import DEFAULT_KEEP_DELETED_WITHIN
from hdversion.model.durations import Duration
from hdversion.model.manifest import FileEntry
from hdversion.model.pins import DELETED_NAMESPACE, PRUNED_NAMESPACE, tombstone_json
from hdversion.model.pointers import dir_listing_md5s
from hdversion.model.retention import Plan, Policy, plan, unrecorded_metric
from hdversion.model.storages import scheme_of
from hdversion.model.timestamps import TAG_PREFIX
from hdversion.ops.backup_refs import (
    deleted_catalog,
    fetch_catalog,
    pruned_timestamps,
    read_pins,
    read_tombstones,
    tombstones,
)
from hdversion.ops.catalog import file_lists, read_catalog
from hdversion.ops.leases import PruneLeases, pruning
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.publish import git_remote_of
from hdversion.ops.push import RemoteOutcome
from hdversion.ops.remote_manifests import delete_manifests
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name, user_name
from hdversion.util.pausepoints import PausePoint, pause_point

DEFAULT_POLICY = Policy(last=5)  # the original's `prune`: keep the last 5
DEFAULT_GRACE = Duration(hours=1)


@dataclass
class StoreSweep:
    store: StoreInfo
    garbage: dict[str, int | None]  # md5 -> size: what nothing keeps (to be) deleted
    recent: int  # unused objects left for the grace period (or of unknown age)
    deleted: int = 0
    skipped: str = ""  # why this store was not swept
    # Garbage the store keeps locked (S3 Object Lock): left, swept by a later run once its
    # date passed. md5 -> until when (None: a legal hold).
    locked: dict[str, datetime | None] = field(default_factory=dict)
    # why this store was not swept this time, no failure: writers hold leases there (their
    # backups' tags may not be on the git remote yet); the next run sweeps it
    busy: str = ""

    @property
    def bytes(self) -> int:
        return sum(size or 0 for md5, size in self.garbage.items() if md5 not in self.locked)

    @property
    def locked_until(self) -> datetime | None:
        """When the last locked object's retention ends (None: none has a date)."""
        return max((d for d in self.locked.values() if d is not None), default=None)


@dataclass
class PruneResult:
    plan: Plan
    dry_run: bool
    stores: list[StoreSweep]
    removed_tags: list[str]  # deleted, or (dry run) to be deleted
    git_remote: RemoteOutcome | None
    incomplete: dict[str, int] = field(default_factory=dict)  # kept tag -> objects lacking
    warnings: list[str] = field(default_factory=list)
    # store -> timestamps whose folder (manifest, git-stored files) was deleted there
    manifests_deleted: dict[str, list[str]] = field(default_factory=dict)
    keep_deleted_within: Duration = DEFAULT_KEEP_DELETED_WITHIN
    deleted_kept: list[str] = field(default_factory=list)  # deleted backups whose data stays
    tombstones_expired: list[str] = field(default_factory=list)  # (dry run: to expire)

    def failure(self) -> VerificationError | PartialError | None:
        if self.incomplete:
            return _incomplete_error(self.incomplete)
        if self.git_remote is not None and not self.git_remote.ok:
            return PartialError(
                f"{len(self.removed_tags)} backup(s) removed here, but their tags are still "
                f"on git remote {self.git_remote.name}: {self.git_remote.detail}; shared "
                "stores were not swept",
                hint="run prune again when the git remote answers")
        skipped = [f"{s.store.name} ({s.skipped})" for s in self.stores if s.skipped]
        if skipped:
            return PartialError(f"not swept: {', '.join(skipped)}",
                                hint="run prune without --offline to sweep them")
        return None


def prune(
    *,
    repo: Path | None = None,
    policy: Policy | None = None,
    safety_within: Duration | None = None,
    remote: str | None = None,
    dry_run: bool = False,
    fetch_tags: bool = True,
    grace: Duration = DEFAULT_GRACE,
    allow_incomplete: bool = False,
    wait: float = 0,
    now: datetime | None = None,
    config: Path | None = None,
    keep_deleted_within: Duration | None = None,
    profile: str | None = None,
) -> PruneResult:
    """Apply a retention policy (default: the settings' `retention:`, else keep the last 5);
    `safety_within` replaces the policy's rule for safety backups. `remote`: also collect in
    this DVC remote (a cloud one, usually). `keep_deleted_within`: the undelete window
    (default: the settings' `retention.keep_deleted_within`, else 7 days). `profile`: the
    AWS profile for every S3 remote of this run, over the remote's own key (a machine
    whose usual key may only write)."""
    project = Project.open(repo, config=config, profile=profile)
    chosen = resolve_policy(project, policy, safety_within)
    if profile is not None:
        _check_profile_applies(project, profile, remote)
    with locked_operation(project, "prune", wait, dry_run=dry_run, remote=remote):
        result = prune_project(project, chosen, remote, dry_run=dry_run, fetch_tags=fetch_tags,
                               grace=grace, allow_incomplete=allow_incomplete,
                               now=now or now_utc(), from_settings=policy is None,
                               keep_deleted_within=keep_deleted_within)
        project.journal("prune", "dry-run" if dry_run else
                        ("ok" if result.failure() is None else "partial"),
                        policy=chosen.describe(), removed=result.removed_tags,
                        freed={s.store.name: s.bytes for s in result.stores})
        return result


def _check_profile_applies(project: Project, profile: str, remote: str | None) -> None:
    names = [project.settings.local_remote, *([remote] if remote else [])]
    if not any(scheme_of(project.store.remote_url(n) or "") == "s3" for n in names):
        raise UsageError(f"--profile {profile} names an AWS profile, for S3 remotes; this "
                         f"prune touches none (remotes: {', '.join(names)})",
                         hint="name the S3 remote: --remote NAME")


def resolve_policy(project: Project, policy: Policy | None,
                   safety_within: Duration | None) -> Policy:
    """The policy given, else the settings' `retention:`, else keep the last 5; with
    `safety_within` replacing its rule for safety backups. Validated."""
    chosen = policy or project.settings.retention or DEFAULT_POLICY
    if safety_within is not None:
        chosen = replace(chosen, safety_within=safety_within)
    return chosen.validate()


def deleted_window(project: Project, given: Duration | None = None) -> Duration:
    """The undelete window: `given`, else the settings', else the default (7 days)."""
    if given is not None:
        return given
    return project.settings.keep_deleted_within or DEFAULT_KEEP_DELETED_WITHIN


def prune_project(project: Project, policy: Policy, remote: str | None, *, dry_run: bool,
                  fetch_tags: bool, grace: Duration, allow_incomplete: bool,
                  now: datetime, from_settings: bool = False,
                  keep_deleted_within: Duration | None = None) -> PruneResult:
    """Prune under the caller's lock. `from_settings`: the policy is the settings'
    `retention:` (a mistake in it is a configuration error, exit 7)."""
    store = project.store
    if remote:
        store.preflight(remote)
    if not dry_run:
        # Before anything goes (tags, leftovers, objects): a backup-only key stops here.
        for name in (project.settings.local_remote, *([remote] if remote else [])):
            store.check_may_delete(name)
        remove_leftovers(project, [remote] if remote else [])
    # The exclusive leases go in before the tags are read: a writer that published its tag
    # before them is seen in the tags, one that did not yet is seen by its lease (or waits
    # for ours to go before it pushes anything). A dry run deletes nothing and takes none.
    remotes = [project.settings.local_remote, *([remote] if remote else [])]
    with nullcontext(PruneLeases({}, {}, {})) if dry_run else pruning(project, remotes) \
            as leases:
        return _prune_leased(project, policy, remote, leases, dry_run=dry_run,
                             fetch_tags=fetch_tags, grace=grace,
                             allow_incomplete=allow_incomplete, now=now,
                             from_settings=from_settings,
                             keep_deleted_within=keep_deleted_within)


def _prune_leased(project: Project, policy: Policy, remote: str | None, leases: PruneLeases,
                  *, dry_run: bool, fetch_tags: bool, grace: Duration,
                  allow_incomplete: bool, now: datetime, from_settings: bool,
                  keep_deleted_within: Duration | None) -> PruneResult:
    store = project.store
    git_remote, _ = git_remote_of(project)
    if fetch_tags and git_remote is not None:
        try:
            fetch_catalog(project)
        except RemoteError as exc:
            raise RemoteError(
                f"{exc.message}; prune decides on every clone's backups and pins, so it "
                "does not run on this clone's tags alone (nothing was removed)",
                hint="fix the connection to the git remote, or pass --offline if this "
                     "clone is the only one that makes backups") from None

    pause_point(project.root, PausePoint.AFTER_TAG_FETCH)
    catalog = read_catalog(project.git)
    # Judged on every clone's backups (fetched above), and in a dry run too: it answers as
    # the real run would.
    refused = unrecorded_metric(policy, catalog.backups)
    if refused is not None and from_settings:
        raise ConfigurationError(f"{project.settings.source}: retention.metric: "
                                 f"{refused.message}",
                                 hint=refused.hint)
    if refused is not None:
        raise refused
    pins = read_pins(project.git)
    # Aliases came with the fetch above: an alias set in another clone protects here too.
    decided = plan(catalog.backups, policy, now, {t: p.reason for t, p in pins.items()},
                   aliases_by_tag(catalog.aliases))
    removed = [b.tag for b in decided.removed]
    warnings = [f"tag {tag} is not a valid backup ({why}): left alone, its data kept"
                for tag, why in catalog.invalid]

    # Deleted backups within the undelete window keep their data as kept ones do (those
    # removed now too, unless the window is 0); not their completeness: that is undelete's.
    # Only those within it are read.
    window = deleted_window(project, keep_deleted_within)
    stones = read_tombstones(project.git)
    live = {b.tag for b in catalog.backups}
    held = [b for b in deleted_catalog(project.git, {
                t: stone for t, stone in stones.items() if stone.within(window, now)}).backups
            if b.tag not in live]
    lingering = [*([] if window.is_zero else decided.removed), *held]
    # The kept backups' file lists, read once (one git call): their files, with the sizes
    # the completeness check compares. A backup kept only for the undelete window keeps
    # what its tag records (its outputs, a directory's files by its listing below): its
    # list is read only where no store has that listing.
    lists, unreadable = _readable_file_lists(project, decided.kept)
    needed, sizes = _needed_objects(decided.kept, lists)
    warnings += [f"backup {tag}: {why}; its data is kept as DVC reads its commit"
                 for tag, why in unreadable.items()]
    # Everything that is not a valid backup counts as DVC reads it: branch heads, the
    # workspace, every other tag (and invalid backup tags), pins whose tag is gone. Their
    # names alone: no tag object is read.
    others = [name for name in project.git.tag_object_ids("") if name not in live]
    others += [b.commit for b in decided.kept if b.tag in unreadable]
    others += [p.commit for t, p in pins.items() if t not in live and p.commit]
    from_refs = store.used_by_refs(others)
    keep = set().union(*needed.values()) | _recorded_objects(lingering) | from_refs
    # The stores by kind, not by name: a DVC remote may be named `cache`.
    stores: list[Store] = [store.remote(project.settings.local_remote),
                           *([store.remote(remote)] if remote else []), store.cache()]
    keep |= _expand_listings(project, [*catalog.backups, *held], lists, keep, from_refs,
                             stores, {b.tag for b in lingering})

    listings = [store.listing(s, keep) for s in stores]
    kept_tags = {b.tag for b in decided.kept}
    incomplete = _lacking({t: o for t, o in needed.items() if t in kept_tags}, listings, sizes)
    if incomplete and not allow_incomplete and not dry_run:
        raise _incomplete_error(incomplete)

    sweeps = [_sweep(store.store_info(s), listing, keep, _cutoff(grace, now, leases, s),
                     "" if isinstance(s, CacheStore) else leases.busy.get(s.name, ""))
              for s, listing in zip(stores, listings, strict=True)]
    result = PruneResult(decided, dry_run, sweeps, removed, None,
                         {} if allow_incomplete else incomplete, warnings,
                         keep_deleted_within=window, deleted_kept=[b.tag for b in held],
                         tombstones_expired=sorted(t for t, stone in stones.items()
                                                   if stone.expired(window, now)))
    if dry_run:
        return result

    pause_point(project.root, PausePoint.BEFORE_TAG_DELETE)
    refs = [f"refs/tags/{tag}" for tag in removed]
    tag_objects = project.git.tag_object_ids(TAG_PREFIX)
    pruned_at, by = now.isoformat(timespec="seconds"), f"{user_name()}@{host_name()}"
    # Every tombstone written by one git run.
    stone_ids = project.git.write_blobs([
        tombstone_json(tag_objects[tag], pruned_at, policy.describe(), by).encode()
        for tag in removed])
    buried = {PRUNED_NAMESPACE + tag.removeprefix(TAG_PREFIX): stone
              for tag, stone in zip(removed, stone_ids, strict=True)}
    # The tag objects themselves, for undelete (and reachable, so that git gc keeps them).
    buried |= {DELETED_NAMESPACE + tag.removeprefix(TAG_PREFIX): tag_objects[tag]
               for tag in removed}
    if git_remote is not None:
        # The tags go on the git remote first, each leaving a tombstone there (one atomic
        # push): a tag deleted here first would come back with the next fetch.
        result.git_remote = _delete_on_remote(project, git_remote, refs, buried, fetch_tags)
        unknown = _unknown_on_remote(project, git_remote, result.git_remote, fetch_tags)
        for sweep in sweeps:
            if sweep.store.shared and unknown:
                # Other clones follow the git remote: what its tags name stays in the
                # stores they share.
                sweep.skipped, sweep.garbage = unknown, {}
    project.git.update_refs(delete=refs, create=buried)
    pause_point(project.root, PausePoint.AFTER_TAG_DELETE)
    # The pruned backups' manifests go before their objects, so that a manifest in a remote
    # always means its data is there. Every tombstone counts, so that a run killed after the
    # tags went (here or in another clone) is finished now.
    # Not a backup brought back by undelete (its tombstone replaced by a mark).
    buried_timestamps = pruned_timestamps(project.git) - {
        tag.removeprefix(TAG_PREFIX) for tag in project.git.tag_ids(TAG_PREFIX)}
    for s in stores:
        if not isinstance(s, CacheStore):
            result.manifests_deleted[s.name] = delete_manifests(project, s.name,
                                                                buried_timestamps)
    for sweep in sweeps:
        if not sweep.skipped and not sweep.busy:
            deleted = store.delete(sweep.store.store, sweep.garbage)
            sweep.deleted, sweep.locked = len(deleted), deleted.locked
    if result.git_remote is None or result.git_remote.ok:
        result.tombstones_expired = _expire(project, git_remote, result.tombstones_expired,
                                            result.warnings)
    return result


def _expire(project: Project, remote: str | None, timestamps: list[str],
            warnings: list[str]) -> list[str]:
    """Delete expired tombstones and their kept tags on the git remote, then here (one left
    there would come back with the next fetch); the timestamps expired. A git remote that
    refuses leaves them all for the next prune (a warning)."""
    refs = [ns + t for t in timestamps for ns in (PRUNED_NAMESPACE, DELETED_NAMESPACE)]
    if not refs:
        return []
    if remote is not None:
        try:
            present = project.git.remote_refs(remote, PRUNED_NAMESPACE + "*",
                                              DELETED_NAMESPACE + "*")
            project.git.delete_remote_refs(remote, [r for r in refs if r in present])
        except RemoteError as exc:
            warnings.append(f"expired tombstones kept: {exc.message}")
            return []
    here = {PRUNED_NAMESPACE + r.name for r in project.git.refs(PRUNED_NAMESPACE)} | {
        DELETED_NAMESPACE + r.name for r in project.git.refs(DELETED_NAMESPACE)}
    project.git.delete_refs([r for r in refs if r in here])
    return timestamps


def _expand_listings(project: Project, backups: list[Backup],
                     lists: dict[str, tuple[FileEntry, ...]], objects: set[str],
                     must_know: set[str], stores: list[Store], lingering: set[str]) -> set[str]:
    """The files of every directory listing (`.dir` object) among `objects`. A listing is
    read from the stores (its bytes checked against its name), else taken from the file
    list of a backup that has that directory. A listing that the branches or the workspace
    use (`must_know`), or that a backup kept for the undelete window (`lingering`, by tag)
    records beside an invalid file list, and that is nowhere stops the prune: its files
    would look unused."""
    listings = sorted(md5 for md5 in objects if md5.endswith(".dir"))
    if not listings:
        return set()
    files: set[str] = set()
    stored = project.store.read_objects(
        listings, sorted(stores, key=lambda s: not isinstance(s, CacheStore)))
    lacking: set[str] = set()
    for md5 in listings:
        data = stored.get(md5)
        if data is not None:
            try:
                files |= dir_listing_md5s(data)
                continue
            except ManifestError:
                pass
        lacking.add(md5)
    if not lacking:
        return files
    # The file lists of the backups with a directory whose listing no store has (those not
    # read yet, in one git call): what that directory held.
    holders = [b for b in backups if any(o.is_dir and o.md5 in lacking
                                         for o in b.manifest.outputs)]
    read, unreadable = _readable_file_lists(project, [b for b in holders if b.tag not in lists])
    lists = {**lists, **read}
    # As a kept backup's invalid list sends its commit to DVC (`must_know`).
    must_know = must_know | {o.md5 for b in holders if b.tag in unreadable
                             and b.tag in lingering for o in b.manifest.outputs}
    from_backups: dict[str, set[str]] = {}
    for backup in holders:
        for output in backup.manifest.outputs:
            if output.md5 in lacking and output.is_dir and backup.tag in lists:
                from_backups.setdefault(output.md5, set()).update(
                    f.md5 for f in lists[backup.tag] if output.holds(f.path))
    for md5 in sorted(lacking):
        if md5 in from_backups:
            files |= from_backups[md5]
        elif md5 in must_know:
            raise DataStoreError(
                f"cannot tell which files the directory listing {md5} holds (the workspace, "
                "a branch or a tag uses it, and no store has it); nothing was removed",
                hint="fetch it (`dvc fetch`), or name the remote that has it (--remote NAME)")
    return files


def _readable_file_lists(project: Project, backups: list[Backup]
                         ) -> tuple[dict[str, tuple[FileEntry, ...]], dict[str, str]]:
    """The file lists (by tag) of the backups whose list is valid, and why the others are
    not (tag -> why), in one git call."""
    lists, invalid = file_lists(project.git, backups)
    return lists, {tag: error.message for tag, error in invalid.items()}


def _recorded_objects(backups: list[Backup]) -> set[str]:
    """The objects the tags of `backups` record, no file list read: each output's (a
    directory's listing, whose files the caller adds from it), or a first-form tag's files."""
    objects: set[str] = set()
    for backup in backups:
        manifest = backup.manifest
        if manifest.inline_files is not None:
            objects.update(f.md5 for f in manifest.inline_files if f.store == "dvc")
        objects.update(o.md5 for o in manifest.outputs if o.store == "dvc")
    return objects


def _needed_objects(kept: list[Backup], lists: dict[str, tuple[FileEntry, ...]]
                    ) -> tuple[dict[str, set[str]], dict[str, int]]:
    """The objects each kept backup with a readable file list needs (its files' and its
    directory listings), and the files' sizes."""
    needed: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for backup in kept:
        if backup.tag not in lists:
            continue
        files = [f for f in lists[backup.tag] if f.store == "dvc"]
        sizes.update((f.md5, f.size) for f in files)
        needed[backup.tag] = {f.md5 for f in files} | {
            o.md5 for o in backup.manifest.outputs if o.is_dir and o.store == "dvc"}
    return needed, sizes


def _lacking(needed: dict[str, set[str]], listings: list[dict[str, StoredObject]],
             sizes: dict[str, int]) -> dict[str, int]:
    """Kept backup -> how many of its objects no store holds whole (absent, or another
    size than the backup recorded)."""
    def held(md5: str) -> bool:
        for listing in listings:
            stored = listing.get(md5)
            if stored is not None and (stored.size is None or md5 not in sizes
                                       or stored.size == sizes[md5]):
                return True
        return False

    lacking = {tag: sum(not held(md5) for md5 in objects) for tag, objects in needed.items()}
    return {tag: count for tag, count in lacking.items() if count}


def _cutoff(grace: Duration, now: datetime, leases: PruneLeases, store: Store) -> float:
    """The time before which an unused object is old enough to go: the grace period counted
    back from the store's own clock where prune holds a lease there (a pruning machine whose
    clock runs ahead must not make young objects look old), else from `now`."""
    at = None if isinstance(store, CacheStore) else leases.store_time.get(store.name)
    return grace.before(now if at is None else datetime.fromtimestamp(at, UTC)).timestamp()


def _sweep(info: StoreInfo, listing: dict[str, StoredObject], keep: set[str],
           cutoff: float, busy: str = "") -> StoreSweep:
    if busy:
        return StoreSweep(info, {}, 0, busy=busy)
    garbage: dict[str, int | None] = {}
    recent = 0
    for md5, stored in listing.items():
        if md5 in keep:
            continue
        if info.shared and (stored.mtime is None or stored.mtime > cutoff):
            recent += 1
            continue
        garbage[md5] = stored.size
    return StoreSweep(info, garbage, recent)


def _delete_on_remote(project: Project, remote: str, refs: list[str],
                      new_tombstones: dict[str, str], fetched: bool) -> RemoteOutcome:
    """Delete backup tags on the git remote, with their tombstones; also those of backups
    pruned here before whose deletion there did not happen (a run killed half-way): only a
    tag there that is the very tag object a tombstone names."""
    buried = tombstones(project.git)
    ids = {PRUNED_NAMESPACE + r.name: r.object_id for r in project.git.refs(PRUNED_NAMESPACE)}
    try:
        present = project.git.remote_ref_ids(remote, f"refs/tags/{TAG_PREFIX}*")
        stale = {ref: PRUNED_NAMESPACE + ref.removeprefix(f"refs/tags/{TAG_PREFIX}")
                 for ref, sha in present.items()
                 if buried.get(ref.removeprefix(f"refs/tags/{TAG_PREFIX}")) == sha}
        project.git.delete_remote_refs(
            remote, [r for r in refs if r in present] + list(stale),
            create={t: ids[t] for t in stale.values()},
            # Forced: a backup brought back by undelete has its mark there (model/pins.py).
            replace=new_tombstones)
    except RemoteError as exc:
        if fetched:
            raise RemoteError(f"{exc.message}; nothing was removed",
                              hint="run prune again when the git remote answers") from None
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, "deleted")


def _unknown_on_remote(project: Project, remote: str, outcome: RemoteOutcome,
                       fetched: bool) -> str:
    """Why shared stores must not be swept, or "" when this clone knows every backup the
    git remote names (it fetched them, or the remote has no tag this clone lacks)."""
    if not outcome.ok:
        return f"the tags are still on git remote {remote}"
    if fetched:
        return ""
    try:
        present = project.git.remote_refs(remote, f"refs/tags/{TAG_PREFIX}*")
    except RemoteError:
        return f"git remote {remote} cannot be read (--offline)"
    local = {f"refs/tags/{name}" for name in project.git.tag_object_ids(TAG_PREFIX)}
    if present - local:
        return (f"git remote {remote} has {len(present - local)} backup tag(s) this clone "
                "lacks (--offline)")
    return ""


def _incomplete_error(incomplete: dict[str, int]) -> VerificationError:
    listed = ", ".join(f"{tag} ({count} object(s))" for tag, count in sorted(incomplete.items()))
    return VerificationError(
        f"backup(s) that prune would keep already lack data in every store at hand: {listed}; "
        "nothing was removed",
        hint="a backup made in another clone may be whole only in a shared remote: name it "
             "(--remote NAME or --cloud --storage X); `hdversion sync` repairs a remote from "
             "the cache; --allow-incomplete prunes anyway (nothing a kept backup uses is "
             "removed either way)")

"""The seam to git: the only module that runs git (as a subprocess, hdversion.gitrepo.run).

Backups are commits that no branch points to, named by annotated tags. Everything here works
without touching the user's branch, index or working tree: trees are built in a private index
file, and tags are read in one `git for-each-ref` call however many there are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hdversion.errors import GitError, NotARepositoryError, RemoteError
from hdversion.gitrepo.run import as_text, run_git
from hdversion.util.identity import host_name, user_name

# Fields of `git for-each-ref`, separated by NUL bytes; records end with a byte that never
# occurs in a tag message we write (JSON escapes it; the human line has no control character).
_FIELD = "%00"
_RECORD = "\x1e"


@dataclass(frozen=True)
class TagRecord:
    name: str  # without refs/tags/
    object_type: str  # "tag" for annotated tags
    target: str  # the commit the tag points to
    message: str
    object_id: str = ""  # the ref's own object (the tag object of an annotated tag)


class GitRepo:
    def __init__(self, root: Path, common_dir: Path | None = None) -> None:
        self.root = root
        self._identity: dict[str, str] | None = None
        self._common_dir = common_dir  # the git directory all worktrees share, once known

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        """The repository whose working tree holds `path`."""
        hint = "run hdversion inside the project (git init; dvc init)"
        if not path.is_dir():
            raise NotARepositoryError(f"not a git repository: {path}", hint=hint)
        try:
            top, common = as_text(run_git(path, ["rev-parse", "--show-toplevel",
                                                 "--git-common-dir"])).splitlines()
        except GitError as exc:
            if "work tree" in exc.stderr:
                raise NotARepositoryError(
                    f"bare git repository, no working tree: {path}") from None
            if "not a git repository" in exc.stderr:
                raise NotARepositoryError(f"not a git repository: {path}", hint=hint) from None
            raise NotARepositoryError(f"git cannot open {path}: {exc.stderr}",
                                      hint=hint) from None
        # --git-common-dir is relative to `path` unless the repository is elsewhere.
        return cls(Path(top).resolve(), (path / common).resolve())

    # -- plumbing ------------------------------------------------------------------------
    def _git(self, *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None,
             timeout: float | None = None, identity: bool = False) -> bytes:
        """git's stdout; `identity` for the commands that record who made an object."""
        if identity:
            env = {**self._identity_env(), **(env or {})}
        return run_git(self.root, args, env=env, stdin=stdin, timeout=timeout)

    def _text(self, *args: str, env: Mapping[str, str] | None = None,
              stdin: bytes | None = None, timeout: float | None = None,
              identity: bool = False) -> str:
        return as_text(self._git(*args, env=env, stdin=stdin, timeout=timeout,
                                 identity=identity))

    def _identity_env(self) -> dict[str, str]:
        """CI machines often have no user.name/user.email; git refuses to tag without one.
        Looked up once, and only by the commands that need it."""
        if self._identity is None:
            try:
                found = self._text("config", "--get-regexp", r"^user\.(name|email)$")
            except GitError:  # neither is set
                found = ""
            keys = {line.split(" ", 1)[0] for line in found.splitlines()}
            env: dict[str, str] = {}
            if "user.name" not in keys and "GIT_COMMITTER_NAME" not in os.environ:
                env["GIT_COMMITTER_NAME"] = env["GIT_AUTHOR_NAME"] = user_name()
            if "user.email" not in keys and "GIT_COMMITTER_EMAIL" not in os.environ:
                email = f"{user_name()}@{host_name()}"
                env["GIT_COMMITTER_EMAIL"] = env["GIT_AUTHOR_EMAIL"] = email
            self._identity = env
        return self._identity

    # -- reading -------------------------------------------------------------------------
    def head_commit(self) -> str | None:
        try:
            return self._text("rev-parse", "--verify", "--quiet", "HEAD^{commit}") or None
        except GitError:
            return None

    def branch(self) -> str | None:
        try:
            name = self._text("symbolic-ref", "--quiet", "--short", "HEAD")
        except GitError:
            return None
        return name or None

    def read_files(self, specs: list[tuple[str, str]]) -> list[bytes | None]:
        """Many (revision, path) files in one `git cat-file --batch` call; None where a
        revision lacks the file."""
        return self.read_objects([f"{rev}:{path}" for rev, path in specs])

    def read_objects(self, names: list[str], kind: str = "blob") -> list[bytes | None]:
        """Many objects of one `kind` (blobs, by id or `rev:path`; raw tag objects) in one
        `git cat-file --batch` call; None for what is missing or of another kind."""
        return [found[1] if found is not None and found[0] == kind else None
                for found in self._batch(names)]

    def _batch(self, names: list[str]) -> list[tuple[str, bytes] | None]:
        """(type, content) of each object named, in one `git cat-file --batch` call; None
        for what is missing."""
        if not names:
            return []
        feed = "".join(f"{name}\n" for name in names).encode()
        out = self._git("cat-file", "--batch", stdin=feed)
        found: list[tuple[str, bytes] | None] = []
        at = 0
        for _ in names:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) == 3:
                size = int(header[2])
                found.append((header[1].decode(), out[at:at + size]))
                at += size + 1  # the object, then a newline
            else:  # "<spec> missing"
                found.append(None)
        return found

    def unchanged_since_head(self, paths: Iterable[str]) -> set[str]:
        """Which of the paths HEAD holds with the same content as the working tree: saved in
        git already."""
        wanted = sorted(set(paths))
        if not wanted or self.head_commit() is None:
            return set()
        in_head = set(self._text("ls-tree", "-r", "--name-only", "HEAD", "--",
                                 *wanted).splitlines())
        changed = set(self._text("diff", "--name-only", "HEAD", "--", *wanted).splitlines())
        return in_head - changed

    def is_tracked(self, path: str) -> bool:
        return bool(self._text("ls-files", "--", path))

    def is_ignored(self, path: str) -> bool:
        return path in self.ignored([path])

    def ignored(self, paths: Iterable[str]) -> set[str]:
        """Which of the paths git ignores, in one call."""
        wanted = list(paths)
        feed = os.fsencode("".join(f"{path}\0" for path in wanted))
        try:
            out = self._git("check-ignore", "--stdin", "-z", stdin=feed)
        except GitError:  # exit 1: none is ignored
            return set()
        return set(os.fsdecode(out).split("\0")) & set(wanted)

    def tags(self, prefix: str) -> list[TagRecord]:
        """Every tag under refs/tags/<prefix>, messages included, in one git call."""
        return self.refs("refs/tags/", prefix)

    def tag_ids(self, prefix: str) -> dict[str, tuple[str, str]]:
        """Every tag under refs/tags/<prefix>: its name -> (object type, object id), without
        reading any tag object (a tenth of `tags`' cost)."""
        out = self._text("for-each-ref", "--format=%(refname) %(objecttype) %(objectname)",
                         f"refs/tags/{prefix}")
        ids: dict[str, tuple[str, str]] = {}
        for line in out.splitlines():
            name, object_type, object_id = line.rsplit(" ", 2)
            ids[name.removeprefix("refs/tags/")] = (object_type, object_id)
        return ids

    def tag_object_ids(self, *patterns: str) -> dict[str, str]:
        """The tags whose name matches any of `patterns` (a prefix ending in `/`, or a glob:
        `backup/2026*`): name -> the id of the object the ref names. No object is read (its
        type neither: a seventh of `tag_ids`' cost); git walks only the refs under each
        pattern's literal head (packed refs are sorted: it seeks there)."""
        if not patterns:
            return {}
        out = self._text("for-each-ref", "--format=%(objectname) %(refname)",
                         *(f"refs/tags/{p}" for p in patterns))
        return {name.removeprefix("refs/tags/"): object_id for object_id, _, name in
                (line.partition(" ") for line in out.splitlines())}

    def loose_tags(self, prefix: str) -> int:
        """How many tags under refs/tags/<prefix> are loose, one file each (0 with the
        reftable backend, which has no such files)."""
        count = 0
        folders = [self.git_path("refs/tags") / prefix]
        while folders:
            try:
                with os.scandir(folders.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(Path(entry.path))
                        else:
                            count += 1
            except OSError:
                continue
        return count

    def pack_tags(self) -> None:
        """Move the loose tags into packed-refs (git's own `pack-refs`, as `git gc` does):
        one file read instead of one per tag. GitError when git cannot (its lock is held)."""
        self._text("pack-refs")

    def git_path(self, name: str) -> Path:
        """A path inside the git directory that every worktree of the repository shares
        (where the tags are)."""
        if self._common_dir is None:
            self._common_dir = (self.root / self._text("rev-parse", "--git-common-dir")
                                ).resolve()
        return self._common_dir / name

    def refs(self, namespace: str, prefix: str = "") -> list[TagRecord]:
        """Every ref under <namespace><prefix> that names a tag object (or a commit), with
        its message, in one git call; names are given without the namespace."""
        return self.refs_of((namespace, prefix))[0]

    def refs_of(self, *wanted: tuple[str, str]) -> list[list[TagRecord]]:
        """`refs(namespace, prefix)` for each (namespace, prefix) given, all in one git call
        (`list` reads the backup tags and the aliases at once)."""
        return self._refs_of(wanted, "%(contents)")

    def tags_matching(self, *patterns: str) -> list[TagRecord]:
        """The tags whose name (without refs/tags/) matches any of the glob `patterns`
        (`backup/2026*`, as `tag_object_ids`), messages included, in one git call."""
        if not patterns:
            return []
        return self._records(self._for_each_ref([f"refs/tags/{p}" for p in patterns],
                                                "%(contents)"), [("refs/tags/", "")])[0]

    def tag_records(self, ids: Mapping[str, str]) -> list[TagRecord]:
        """The tags `ids` names (name -> object id, as `tag_object_ids` reads them) as `tags`
        reads them, their objects read in one `git cat-file` call: the messages of some
        tags chosen by name among many (a tag whose object is gone is left out)."""
        records = []
        for (name, object_id), found in zip(ids.items(), self._batch(list(ids.values())),
                                            strict=True):
            if found is None:
                continue
            object_type, data = found
            if object_type != "tag":  # a lightweight tag: no message of its own
                records.append(TagRecord(name, object_type, object_id, "", object_id))
                continue
            # A tag object: its headers ("object <target>" first), a blank line, the message.
            head, _, message = os.fsdecode(data).partition("\n\n")
            target = head.partition("\n")[0].removeprefix("object ")
            records.append(TagRecord(name, "tag", target, message.strip(), object_id))
        return records

    def _for_each_ref(self, patterns: Sequence[str], contents: str) -> str:
        # %(object), the tag's own header, not %(*objectname): the same id, without git
        # reading each target commit (a thousand tags: 15% faster).
        fmt = _FIELD.join(
            ["%(refname)", "%(objecttype)", "%(object)", "%(objectname)", contents]
        ) + _RECORD
        return self._text("for-each-ref", f"--format={fmt}", *patterns)

    def _refs_of(self, wanted: Sequence[tuple[str, str]], contents: str
                 ) -> list[list[TagRecord]]:
        out = self._for_each_ref([f"{namespace}{prefix}" for namespace, prefix in wanted],
                                 contents)
        return self._records(out, wanted)

    @staticmethod
    def _records(out: str, wanted: Sequence[tuple[str, str]]) -> list[list[TagRecord]]:
        groups: list[list[TagRecord]] = [[] for _ in wanted]
        for chunk in out.split(_RECORD):
            chunk = chunk.lstrip("\n")
            if not chunk:
                continue
            name, object_type, peeled, target, message = chunk.split("\0", 4)
            for group, (namespace, prefix) in zip(groups, wanted, strict=True):
                if name.startswith(f"{namespace}{prefix}"):
                    group.append(TagRecord(name.removeprefix(namespace), object_type,
                                           peeled if object_type == "tag" else target,
                                           message.strip(), target))
                    break
        return groups

    # -- writing -------------------------------------------------------------------------
    def commit_snapshot(self, files: Mapping[str, bytes | None], message: str) -> str:
        """Make a commit whose tree is HEAD's tree with `files` replaced (None = removed).

        A private index file keeps the user's index, branch and working tree untouched.
        """
        import tempfile  # here: reading tags (`list`) needs none of it (nor shutil, random)

        parent = self.head_commit()
        removed = sorted(path for path, data in files.items() if data is None)
        written = sorted((path, data) for path, data in files.items() if data is not None)
        with tempfile.TemporaryDirectory(prefix="hdversion-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self._text("read-tree", parent, env=env)
            if removed:
                self._text("update-index", "--force-remove", "--", *removed, env=env)
            if written:
                # Two git runs for every file at once, not two per file.
                blobs = self._write_blobs([data for _, data in written], Path(tmp))
                entries = b"".join(f"100644 {blob}\t{path}".encode() + b"\0"
                                   for (path, _), blob in zip(written, blobs, strict=True))
                self._text("update-index", "-z", "--index-info", env=env, stdin=entries)
            tree = self._text("write-tree", env=env)
        parents = ["-p", parent] if parent else []
        return self._text("commit-tree", tree, *parents, stdin=message.encode(),
                          identity=True)

    def create_tag(self, name: str, commit: str, message: str) -> bool:
        """Create an annotated tag; False if the name is taken (git's ref lock decides races)."""
        try:
            self._text("tag", "-a", "--cleanup=verbatim", "-F", "-", name, commit,
                       stdin=message.encode(), identity=True)
        except GitError as exc:
            if "already exists" in exc.stderr:
                return False
            raise
        return True

    def delete_refs(self, refs: Iterable[str]) -> None:
        """Delete refs (full names) in one transaction: all of them or none."""
        self.update_refs(delete=refs)

    def update_refs(self, delete: Iterable[str] = (), create: Mapping[str, str] | None = None
                    ) -> None:
        """Delete refs and point others at objects (ref -> sha), in one transaction."""
        script = "".join(f"delete {ref}\n" for ref in delete) + "".join(
            f"update {ref} {sha}\n" for ref, sha in (create or {}).items())
        if script:
            self._text("update-ref", "--stdin", stdin=script.encode())

    def write_blob(self, data: bytes) -> str:
        return self._text("hash-object", "-w", "--stdin", stdin=data)

    def write_blobs(self, contents: list[bytes]) -> list[str]:
        """The blobs of `contents`, their ids in order, written by one `git fast-import`
        into one pack (a prune of thousands of backups writes a tombstone each: a git run
        apiece took minutes, and a loose object apiece, or a file apiece to hash, most of a
        minute on a busy disk)."""
        if not contents:
            return []
        stream = b"".join(b"blob\nmark :%d\ndata %d\n%s\n" % (number, len(data), data)
                          for number, data in enumerate(contents, start=1))
        stream += b"".join(b"get-mark :%d\n" % number
                           for number in range(1, len(contents) + 1))
        ids = self._text("fast-import", "--quiet", "--done", stdin=stream + b"done\n").split()
        if len(ids) != len(contents):
            raise GitError("fast-import", f"{len(ids)} blob ids for {len(contents)} blobs")
        return ids

    def _write_blobs(self, contents: list[bytes], scratch: Path) -> list[str]:
        """The blobs of `contents`, written by one git run: as files of `scratch` hashed as
        they are (--no-filters, as `--stdin` is), in order."""
        paths = []
        for number, data in enumerate(contents):
            path = scratch / f"blob-{number}"
            path.write_bytes(data)
            paths.append(str(path))
        out = self._text("hash-object", "-w", "--no-filters", "--stdin-paths",
                         stdin="".join(f"{path}\n" for path in paths).encode())
        return out.split()

    def create_ref_tag(self, ref: str, commit: str, message: str) -> None:
        """Point `ref` (outside refs/tags) at a new annotated tag object for `commit`: a
        message that travels with the ref, and a commit that git gc keeps."""
        tag_object = self.make_tag_object(commit, "commit", ref.rsplit("/", 1)[-1], message)
        self._text("update-ref", ref, tag_object)

    def make_tag_object(self, target: str, kind: str, name: str, message: str) -> str:
        """A new annotated tag object (no ref names it yet) for `target`, an object of type
        `kind` (commit, tag, tree); its id."""
        tagger = self._text("var", "GIT_COMMITTER_IDENT", identity=True)
        body = (f"object {target}\ntype {kind}\ntag {name}\ntagger {tagger}\n\n"
                f"{message}\n")
        return self._text("mktag", stdin=body.encode())

    def empty_tree(self) -> str:
        """The empty tree's id (written, so that a tag may point at it)."""
        return self._text("hash-object", "-t", "tree", "-w", "--stdin", stdin=b"")

    def compare_and_set_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Point `ref` at `new` only if it points at `old` now (None: only if it does not
        exist); False when it does not (git's ref lock decides races)."""
        try:
            self._text("update-ref", ref, new, old or "")
        except GitError as exc:
            if "cannot lock ref" in exc.stderr or "but expected" in exc.stderr:
                return False
            raise
        return True

    def ensure_ignored(self, paths: Iterable[str]) -> None:
        """Keep hdversion's own files (journal, local remote) out of `git status`, through
        .git/info/exclude so that no tracked file changes."""
        # In a linked worktree too, git reads the exclude file of the common directory.
        exclude = self.git_path("info/exclude")
        lines = {p: f"/{p.strip('/')}/" for p in paths}
        try:
            written = set(exclude.read_text(errors="replace").splitlines())
        except OSError:
            written = set()
        if written >= set(lines.values()):
            return  # written there by an earlier run: no need to ask git
        probes = {p: f"{p.strip('/')}/x" for p in lines}
        ignored = self.ignored(probes.values())
        missing = [p for p, probe in probes.items() if probe not in ignored]
        if not missing:
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as stream:
            stream.write("".join(f"{lines[p]}\n" for p in missing))

    # -- remotes -------------------------------------------------------------------------
    def remote_names(self) -> list[str]:
        return [line for line in self._text("remote").splitlines() if line]

    def push_refs(self, remote: str, refs: Iterable[str]) -> None:
        specs = [f"{ref}:{ref}" for ref in refs]
        if not specs:
            return
        try:
            self._text("push", "--quiet", remote, *specs)
        except GitError as exc:
            raise RemoteError(f"could not push backup tags to git remote '{remote}': "
                              f"{exc.stderr.strip()}") from None

    def delete_remote_refs(self, remote: str, refs: Iterable[str],
                           create: Mapping[str, str] | None = None,
                           replace: Mapping[str, str] | None = None) -> None:
        """Delete refs on a git remote and point others at objects (ref -> sha; `replace`:
        whatever they point at now), atomically where the server can (all or none)."""
        specs = [f":{ref}" for ref in refs] + [f"{sha}:{ref}" for ref, sha in
                                               (create or {}).items()] + [
            f"+{sha}:{ref}" for ref, sha in (replace or {}).items()]
        if not specs:
            return
        try:
            self._text("push", "--quiet", "--atomic", remote, *specs)
        except GitError as exc:
            raise RemoteError(f"could not delete refs on git remote '{remote}': "
                              f"{exc.stderr.strip()}") from None

    def push_with_lease(self, remote: str, ref: str, new: str, old: str | None) -> bool:
        """Point `ref` on a git remote at `new` only if it points at `old` there (None: only
        if it does not exist): one atomic push whose old value the server checks under its
        ref lock. False when the remote's ref is not `old` (another clone moved it first);
        RemoteError when the remote cannot be written for another reason."""
        try:
            self._text("push", "--quiet", "--atomic", f"--force-with-lease={ref}:{old or ''}",
                       remote, f"{new}:{ref}")
        except GitError as exc:
            try:
                now = self.remote_ref_ids(remote, ref).get(ref)
            except RemoteError:
                now = old  # unreadable: not a lost race, the remote's own failure
            if now == new:
                return True
            if now != old:
                return False
            raise RemoteError(f"could not update {ref} on git remote '{remote}': "
                              f"{exc.stderr.strip()}") from None
        return True

    def remote_refs(self, remote: str, *patterns: str) -> set[str]:
        """The refs (full names) a git remote has under the patterns."""
        return set(self.remote_ref_ids(remote, *patterns))

    def remote_ref_ids(self, remote: str, *patterns: str) -> dict[str, str]:
        """Ref (full name) -> object id, of the refs a git remote has under the patterns."""
        try:
            out = self._text("ls-remote", "--refs", remote, *patterns)
        except GitError as exc:
            raise RemoteError(f"could not read git remote '{remote}': "
                              f"{exc.stderr.strip()}") from None
        pairs = (line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {ref: sha for sha, ref in pairs}

    def ref_id(self, ref: str) -> str | None:
        try:
            return self._text("rev-parse", "--verify", "--quiet", ref) or None
        except GitError:
            return None

    def fetch_tags(self, remote: str, pattern: str, *more: str,
                   timeout: float | None = None) -> None:
        """Fetch tags matching `pattern` (e.g. 'backup/*' under refs/tags) and refs matching
        full-name patterns `more` (pins...) from a git remote. A tag here is never replaced
        by a different one of the same name (that would lose a backup): git refuses it, and
        so does this."""
        self._fetch(remote, [f"refs/tags/{pattern}:refs/tags/{pattern}",
                             *(f"+{ref}:{ref}" for ref in more)], timeout)

    def fetch_refs(self, remote: str, *patterns: str, timeout: float | None = None) -> None:
        """Fetch refs matching full-name patterns (refs/hdversion/pins/*) from a git remote,
        replacing what differs here."""
        self._fetch(remote, [f"+{ref}:{ref}" for ref in patterns], timeout)

    def _fetch(self, remote: str, specs: list[str], timeout: float | None) -> None:
        try:
            # Not --quiet: git names a rejected ref ("would clobber existing tag") only then.
            self._text("fetch", "--no-tags", remote, *specs, timeout=timeout)
        except GitError as exc:
            lines = [ln.strip() for ln in exc.stderr.splitlines()
                     if "rejected" in ln or ln.startswith(("fatal:", "error:"))]
            why = "; ".join(lines) or exc.stderr or "git fetch failed"
            raise RemoteError(f"could not fetch backup tags from git remote '{remote}': "
                              f"{why}") from None


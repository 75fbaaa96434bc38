"""Encrypted archives (issue 27): `export --encrypt` writes an age file (to recipients or
with a passphrase) that any age tool opens, `import` decrypts it; a key that opens nothing is
exit 7 and an archive damaged or cut short is exit 5, with nothing written anywhere; every
hostile-archive check runs on the decrypted stream."""

from __future__ import annotations

import io
import json
import os
import resource
import select
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from hdversion import api
from hdversion.errors import HdversionError
from hdversion.util.agefile import MAGIC, Sealing, encrypting, read_header
from tests.conftest import HDVERSION, Project, run_cli
from tests.test_export_import import HOSTILE, members_of, snapshot

PASSWORD = "correct horse battery staple"


@dataclass
class Sealed:
    project: Project
    timestamp: str
    data: dict[str, bytes]  # path -> bytes of the backup
    plain: Path  # the same backup, not encrypted
    to_key: Path  # encrypted to `identity`'s recipient
    with_passphrase: Path  # encrypted with PASSWORD
    identity: Path  # an identity file, as age-keygen writes one
    recipient: str


@pytest.fixture(scope="module")
def sealed(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    base = tmp_path_factory.mktemp("sealed")
    root = base / "project"
    shutil.copytree(project_template, root, symlinks=True)
    made = api.backup(repo=root, message="to carry, encrypted", remotes=())
    data = {f.path: (root / f.path).read_bytes() for f in made.files}
    key = x25519.Identity.generate()
    identity = base / "key.txt"
    identity.write_text(f"# public key: {key.to_public()}\n{key}\n")
    stamp = made.backup.timestamp
    plain = api.export(stamp, out=base / "b.tar.gz", repo=root, offline=True).output
    to_key = api.export(stamp, out=base / "b.tar.gz.age", repo=root, offline=True,
                        encrypt=True, recipients=[str(key.to_public())])
    assert to_key.encrypted == "recipients"
    with_passphrase = api.export(stamp, out=base / "p.tar.zst.age", repo=root, offline=True,
                                 encrypt=True, passphrase=PASSWORD)
    assert with_passphrase.encrypted == "passphrase"
    return Sealed(Project(root), stamp, data, plain, to_key.output, with_passphrase.output,
                  identity, str(key.to_public()))


def keys(sealed: Sealed, kind: str) -> dict[str, object]:
    return {"identity": sealed.identity} if kind == "recipient" else {"passphrase": PASSWORD}


def archive_of(sealed: Sealed, kind: str) -> Path:
    return sealed.to_key if kind == "recipient" else sealed.with_passphrase


# -- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["recipient", "passphrase"])
def test_round_trip_and_any_age_tool_opens_it(sealed: Sealed, tmp_path: Path,
                                              kind: str) -> None:
    archive = archive_of(sealed, kind)
    raw = archive.read_bytes()
    assert raw.startswith(MAGIC)
    # the standard age format: pyrage's own decryption gives back the tar stream
    key = x25519.Identity.from_str(sealed.identity.read_text().splitlines()[1])
    inner = (pyrage.decrypt(raw, [key]) if kind == "recipient"
             else pyrage.passphrase.decrypt(raw, PASSWORD))
    assert inner[:2] == b"\x1f\x8b" if kind == "recipient" else inner[:4] == b"\x28\xb5\x2f\xfd"
    assert not any(content[:64] in raw for content in sealed.data.values() if len(content) > 64)
    target = tmp_path / "carried"
    result = api.import_archive(archive, target=target, repo=tmp_path, **keys(sealed, kind))
    assert result.failure() is None
    assert snapshot(target) == sealed.data


def test_round_trip_through_the_cli(sealed: Sealed, tmp_path: Path) -> None:
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# the team\n{sealed.recipient}\n")
    out = tmp_path / "b.tar.age"
    made = run_cli(sealed.project.root, "export", sealed.timestamp, "-o", str(out),
                   "--offline", "--encrypt", "--recipients-file", str(recipients), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["encrypted"] == "recipients"
    target = tmp_path / "t"
    checked = run_cli(sealed.project.root, "import", str(out), "--dry-run", "--identity",
                      str(sealed.identity))
    assert checked.returncode == 0, checked.stderr
    back = run_cli(tmp_path, "import", str(out), "--target", str(target),
                   env={"HDVERSION_AGE_IDENTITY": str(sealed.identity)})
    assert back.returncode == 0, back.stderr
    assert snapshot(target) == sealed.data
    # a passphrase from the environment, never from the command line
    out = tmp_path / "p.tar.gz.age"
    env = {"HDVERSION_PASSPHRASE": PASSWORD}
    made = run_cli(sealed.project.root, "export", sealed.timestamp, "-o", str(out),
                   "--offline", "--encrypt", "--passphrase", env=env)
    assert made.returncode == 0, made.stderr
    assert "age-encrypted with a passphrase" in made.stdout
    target = tmp_path / "p"
    back = run_cli(tmp_path, "import", str(out), "--target", str(target), env=env)
    assert back.returncode == 0, back.stderr
    assert snapshot(target) == sealed.data
    journal = (sealed.project.root / "logs" / "hdversion.jsonl").read_text()
    assert PASSWORD not in made.stdout + made.stderr + back.stdout + back.stderr + journal


# -- keys that open nothing: exit 7, nothing written ---------------------------------------

def test_a_wrong_key_is_exit_7_and_writes_nothing(sealed: Sealed, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text(f"{x25519.Identity.generate()}\n")
    root = sealed.project.root
    before = snapshot(root)
    target = tmp_path / "target"
    cases = [(sealed.with_passphrase, {"passphrase": "not it"}, "the passphrase does not "
              "open it (the passphrase given)"),
             (sealed.with_passphrase, {}, "encrypted with a passphrase; none was given"),
             (sealed.to_key, {"identity": other}, f"no identity given opens it (identity "
              f"file {other})"),
             (sealed.to_key, {"passphrase": PASSWORD}, "no identity was given"),
             (sealed.to_key, {}, "no identity was given")]
    for archive, given, phrase in cases:
        for where in (target, None):  # a fresh directory, and the workspace
            with pytest.raises(HdversionError) as refused:
                api.import_archive(archive, target=where, repo=root,
                                   **given)  # type: ignore[arg-type]
            assert refused.value.exit_code == 7, refused.value.message
            assert phrase in refused.value.message, refused.value.message
    assert not target.exists()
    # DVC's lock file holds the pid of its last holder: an import that authenticated the
    # header (a truncated payload is found only at its end) took the lock.
    assert without_lock(snapshot(root)) == without_lock(before)
    assert not list((root / ".dvc" / "tmp").glob("hdversion-import-*"))


def without_lock(state: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in state.items() if path != ".dvc/tmp/lock"}


def test_a_wrong_passphrase_through_the_cli(sealed: Sealed, tmp_path: Path) -> None:
    root = sealed.project.root
    before = snapshot(root)
    for env, phrase in (({"HDVERSION_PASSPHRASE": "wrong"}, "the passphrase does not open "
                          "it"), ({}, "a passphrase is needed and there is no terminal")):
        result = run_cli(root, "import", str(sealed.with_passphrase), "--json", env=env)
        assert result.returncode == 7, result.stderr
        assert json.loads(result.stdout)["exit_code"] == 7
        assert phrase in " ".join(result.stderr.split()), result.stderr
    assert snapshot(root) == before


# -- damaged archives: exit 5, nothing written ---------------------------------------------

def flipped(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:]


def without_last_chunk(raw: bytes) -> bytes:
    """Cut at a chunk boundary: what is left authenticates, chunk by chunk."""
    start = read_header(io.BytesIO(raw), "x").size + 16
    chunks = (len(raw) - start - 1) // (64 * 1024 + 16)
    assert chunks >= 1
    return raw[:start + chunks * (64 * 1024 + 16)]


DAMAGE = {
    "truncated": lambda raw: raw[:-3000],
    "last chunk gone": without_last_chunk,
    "a byte flipped mid-way": lambda raw: flipped(raw, len(raw) // 2),
    "a byte flipped in the last chunk": lambda raw: flipped(raw, len(raw) - 20),
}


@pytest.mark.parametrize("kind", ["recipient", "passphrase"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_encrypted_archive_is_exit_5_and_writes_nothing(
        sealed: Sealed, tmp_path: Path, kind: str, damage: str) -> None:
    archive = tmp_path / f"damaged{archive_of(sealed, kind).suffixes[-2]}.age"
    archive.write_bytes(DAMAGE[damage](archive_of(sealed, kind).read_bytes()))
    root = sealed.project.root
    before = snapshot(root)
    target = tmp_path / "target"
    for where in (target, None):
        with pytest.raises(HdversionError) as refused:
            api.import_archive(archive, target=where, repo=root, **keys(sealed, kind))
        assert refused.value.exit_code == 5, refused.value.message
        assert "authentication" in refused.value.message, refused.value.message
        assert "nothing was written" in refused.value.message
    assert not target.exists()
    # DVC's lock file holds the pid of its last holder: an import that authenticated the
    # header (a truncated payload is found only at its end) took the lock.
    assert without_lock(snapshot(root)) == without_lock(before)
    assert not list((root / ".dvc" / "tmp").glob("hdversion-import-*"))



@pytest.mark.parametrize("kind", ["recipient", "passphrase"])
def test_a_damaged_chunk_past_the_tar_end_is_caught(sealed: Sealed, tmp_path: Path,
                                                    kind: str) -> None:
    """The tar stream ends before its padding does (tar ignores zeros past its end): a
    chunk holding only those is read and authenticated too, or a damaged one would pass."""
    with tarfile.open(fileobj=(tar := io.BytesIO()), mode="w") as out:
        for member, data in members_of(sealed.plain):
            out.addfile(member, io.BytesIO(data))
    plaintext = tar.getvalue() + bytes(200 * 1024)
    archive = tmp_path / "padded.tar.age"
    with archive.open("wb") as out, encrypting(out, Sealing(
            (sealed.recipient,) if kind == "recipient" else (),
            PASSWORD if kind == "passphrase" else None)) as sink:
        sink.write(plaintext)
    good = archive.read_bytes()
    target = tmp_path / "whole"
    assert api.import_archive(archive, target=target, **keys(sealed, kind)).failure() is None
    archive.write_bytes(flipped(good, len(good) - 20))
    with pytest.raises(HdversionError) as refused:
        api.import_archive(archive, target=tmp_path / "t", **keys(sealed, kind))
    assert refused.value.exit_code == 5 and "authentication" in refused.value.message
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("case", ["dot-dot", "symlink", "gzip bomb", "changed byte",
                                  "forged path into .git"])
def test_a_hostile_member_inside_an_encrypted_archive_is_refused_by_its_rule(
        sealed: Sealed, tmp_path: Path, case: str) -> None:
    make, phrase = HOSTILE[case]
    hostile = make(members_of(sealed.plain), tmp_path / "hostile.tar.gz")
    archive = tmp_path / "hostile.tar.gz.age"
    key = x25519.Identity.from_str(sealed.identity.read_text().splitlines()[1])
    with hostile.open("rb") as source, archive.open("wb") as out:
        pyrage.encrypt_io(source, out, [key.to_public()])
    root = sealed.project.root
    before = snapshot(root)
    target = tmp_path / "target"
    for where in (target, None):
        with pytest.raises(HdversionError) as refused:
            api.import_archive(archive, target=where, repo=root, identity=sealed.identity)
        assert refused.value.exit_code == 5, refused.value.message
        assert phrase in refused.value.message, refused.value.message
    assert not target.exists()
    assert snapshot(root) == before


# -- the name says what the file is ---------------------------------------------------------

@pytest.mark.parametrize(("name", "flags", "phrase"), [
    ("b.tar.gz", ["--encrypt", "--recipient", "RECIPIENT"],
     "'b.tar.gz' does not say it is encrypted: an encrypted archive's name ends in .age"),
    ("b.tar.gz.age", [], "'b.tar.gz.age' says it is encrypted (.age) but --encrypt was not "
     "given"),
    ("b.tar.gz.age", ["--recipient", "RECIPIENT"], "says it is encrypted"),
    ("b.zip.age", ["--encrypt", "--recipient", "RECIPIENT"], "'b.zip' is not an archive name"),
    ("b.tar.age", ["--encrypt"], "--encrypt needs age recipients (--recipient, "
     "--recipients-file) or --passphrase, one of the two"),
    ("b.tar.age", ["--encrypt", "--passphrase", "--recipient", "RECIPIENT"], "one of the two"),
    ("b.tar", ["--recipient", "RECIPIENT"], "given without --encrypt"),
    ("b.tar.age", ["--encrypt", "--recipient", "age1nope"], "'age1nope' is not an age "
     "recipient"),
    ("b.tar.age", ["--encrypt", "--passphrase"], "no terminal to ask it on"),
])
def test_export_refuses_before_any_work(sealed: Sealed, tmp_path: Path, name: str,
                                        flags: list[str], phrase: str) -> None:
    flags = [sealed.recipient if f == "RECIPIENT" else f for f in flags]
    out = tmp_path / name
    result = run_cli(sealed.project.root, "export", sealed.timestamp, "-o", str(out),
                     "--offline", *flags)
    assert result.returncode == (7 if "terminal" in phrase else 2), result.stderr
    assert phrase in " ".join(result.stderr.split()), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_passphrase_is_no_option_value(sealed: Sealed, tmp_path: Path) -> None:
    result = run_cli(sealed.project.root, "export", sealed.timestamp, "-o",
                     str(tmp_path / "b.tar.age"), "--encrypt", "--passphrase", "secret")
    assert result.returncode == 2, result.stderr
    assert list(tmp_path.iterdir()) == []


# -- the passphrase asked on a terminal ------------------------------------------------------

def on_a_terminal(cwd: Path, args: list[str], answers: list[tuple[str, str]]
                  ) -> tuple[int, str]:
    """Run hdversion with a pseudo-terminal as its stdin (and no controlling terminal, so
    getpass asks there), typing each answer once its prompt is shown; (exit, stderr)."""
    main, child = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDVERSION_PASS")}
    proc = subprocess.Popen([HDVERSION, *args], cwd=cwd, stdin=child, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    os.close(child)
    assert proc.stderr is not None
    seen = b""
    try:
        for prompt, answer in answers:
            while prompt.encode() not in seen:
                ready, _, _ = select.select([proc.stderr], [], [], 60)
                assert ready, (prompt, seen)
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, (prompt, seen)
                seen += chunk
            seen = seen.replace(prompt.encode(), b"", 1)
            os.write(main, answer.encode() + b"\n")
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(main)
    return proc.returncode, (seen + err).decode()


def test_the_passphrase_is_asked_twice_on_a_terminal(sealed: Sealed, tmp_path: Path) -> None:
    out = tmp_path / "t.tar.gz.age"
    args = ["export", sealed.timestamp, "-o", str(out), "--offline", "--encrypt",
            "--passphrase"]
    code, err = on_a_terminal(sealed.project.root, args, [
        ("passphrase for the archive: ", "one"), ("the same passphrase again: ", "two")])
    assert code == 2 and "the two passphrases differ; nothing was written" in err, err
    assert not out.exists()
    code, err = on_a_terminal(sealed.project.root, args, [
        ("passphrase for the archive: ", PASSWORD), ("the same passphrase again: ", PASSWORD)])
    assert code == 0, err
    assert PASSWORD not in err
    target = tmp_path / "back"
    code, err = on_a_terminal(tmp_path, ["import", str(out), "--target", str(target)],
                              [("passphrase for t.tar.gz.age: ", PASSWORD)])
    assert code == 0, err
    assert snapshot(target) == sealed.data


@pytest.mark.parametrize("kind", ["recipient", "passphrase"])
def test_a_full_disk_while_encrypting_leaves_no_archive(sealed: Sealed, tmp_path: Path,
                                                        kind: str) -> None:
    """A full disk as the process sees it (RLIMIT_FSIZE: a write past it fails with EFBIG),
    met by pyrage's thread (recipients) or by the passphrase writer: exit 1 naming it."""
    limit = sealed.plain.stat().st_size - 8000  # more than DVC's databases take
    out = tmp_path / "full.tar.gz.age"
    flags = (["--recipient", sealed.recipient] if kind == "recipient" else ["--passphrase"])
    result = subprocess.run(
        [HDVERSION, "export", sealed.timestamp, "-o", str(out), "--offline", "--encrypt",
         *flags], cwd=sealed.project.root, capture_output=True, text=True,
        env={**os.environ, "HDVERSION_PASSPHRASE": PASSWORD},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert result.returncode == 1, result.stderr
    assert "File too large" in result.stderr and "no archive was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []

"""Naming a backup (model/names.py): a timestamp, its tag, `latest`, a unique prefix; and the
catalog's answer for each (model/catalog.py). Pure: no repository here (the commands that
take a name are run end to end in tests/test_names_cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hdversion.errors import BackupNotFoundError, ExitCode, ManifestError, UsageError
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.names import MAX_NAME_LENGTH, BackupNames, check_name, is_prefix
from tests.test_retention import backup, safety

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HISTORY = [backup("20261206_110000"), backup("20261206_093000"), backup("20261205_230000"),
           safety("20261206_113000"), backup("20261130_120000")]


def catalog(*backups: Backup, invalid: list[tuple[str, str]] | None = None) -> Catalog:
    return Catalog(sorted(backups, key=lambda b: b.timestamp, reverse=True), invalid or [])


def named(text: str, *backups: Backup) -> str:
    return catalog(*(backups or HISTORY)).get(text, NOW).timestamp


@pytest.mark.parametrize(("text", "expected"), [
    ("20261206_093000", "20261206_093000"),
    ("backup/20261206_093000", "20261206_093000"),
    ("latest", "20261206_110000"),  # not the newer safety backup
    ("20261206_09", "20261206_093000"),
    ("20261205", "20261205_230000"),
    ("202611", "20261130_120000"),
    ("backup/202611", "20261130_120000"),
    ("20261206_1130", "20261206_113000"),  # a safety backup, named by a prefix
    ("backup/20261206_11300", "20261206_113000"),
])
def test_each_form_names_one_backup(text: str, expected: str) -> None:
    assert named(text) == expected


def test_a_prefix_names_the_only_backup_it_starts() -> None:
    assert named("20261206_1", backup("20261206_110000"), backup("20261205_230000")) \
        == "20261206_110000"
    assert named("2026120", backup("20261206_110000"), backup("20261130_120000")) \
        == "20261206_110000"
    assert named("20261206_", backup("20261206_110000"), backup("20261205_230000")) \
        == "20261206_110000"


def test_an_ambiguous_prefix_is_a_usage_error_listing_the_candidates() -> None:
    with pytest.raises(UsageError) as caught:
        named("20261206")
    assert caught.value.exit_code == ExitCode.USAGE == 2
    assert caught.value.message == ("'20261206' names 3 backups: 20261206_113000, "
                                    "20261206_110000, 20261206_093000")
    assert caught.value.hint is not None and "more of the timestamp" in caught.value.hint
    # Two are enough to refuse: the first of them is not a guess worth making.
    with pytest.raises(UsageError, match="names 2 backups: 20261206_110000, 20261206_093000"):
        named("20261206_", backup("20261206_110000"), backup("20261206_093000"))


def test_many_candidates_are_listed_up_to_ten() -> None:
    many = [backup(f"202612{day:02d}_120000") for day in range(1, 26)]
    with pytest.raises(UsageError) as caught:
        named("202612", *many)
    shown = [f"202612{day:02d}_120000" for day in range(25, 15, -1)]
    assert caught.value.message == f"'202612' names 25 backups: {', '.join(shown)} and 15 more"


@pytest.mark.parametrize("text", ["2025", "20261206_12", "backup/1999", "20261399"])
def test_a_prefix_of_no_backup_is_no_such_backup(text: str) -> None:
    with pytest.raises(BackupNotFoundError) as caught:
        named(text)
    assert caught.value.exit_code == ExitCode.NO_SUCH_BACKUP == 4
    assert caught.value.message == ("no backup has a timestamp starting with "
                                    f"{text.removeprefix('backup/')!r}")


def test_a_full_timestamp_of_no_backup_is_todays_no_such_backup() -> None:
    assert BackupNames(["20261206_110000"], lambda: "x").resolve("19990101_000000") \
        == "19990101_000000"
    with pytest.raises(BackupNotFoundError, match=r"^no backup backup/19990101_000000$"):
        named("19990101_000000")
    with pytest.raises(BackupNotFoundError, match=r"^no backup backup/19990101_000000$"):
        named("backup/19990101_000000")


def test_latest_is_not_a_backup_dated_in_the_future() -> None:
    future = backup("20990101_000000")
    assert named("latest", *HISTORY, future) == "20261206_110000"
    # Named by its timestamp or a prefix, the future one is there to be had.
    assert named("2099", *HISTORY, future) == "20990101_000000"
    with pytest.raises(BackupNotFoundError, match="no backup is older than now; dated in the "
                       "future: backup/20990101_000000"):
        named("latest", future)
    with pytest.raises(BackupNotFoundError, match="there are no backups yet"):
        catalog().get("latest", NOW)
    # `latest` and no name at all are one rule.
    assert catalog(*HISTORY, future).get(None, NOW).timestamp == named("latest", future,
                                                                        *HISTORY)


def test_an_invalid_tag_is_named_and_said_to_be_invalid() -> None:
    # A prefix finds a tag whose manifest is invalid: the answer is why, not "no backup".
    broken = catalog(*HISTORY, invalid=[("backup/20261201_080000", "manifest is not JSON"),
                                        ("backup/20261130_080000", "lightweight tag"),
                                        ("backup/not-a-time", "name is not backup/...")])
    with pytest.raises(ManifestError, match="backup/20261201_080000 exists but its manifest "
                       "is invalid: manifest is not JSON"):
        broken.get("20261201", NOW)
    with pytest.raises(UsageError, match="names 2 backups: 20261130_120000, 20261130_080000"):
        broken.get("20261130", NOW)


@pytest.mark.parametrize(("text", "phrase"), [
    ("", "malformed timestamp ''"),
    ("2025-03-31", "malformed timestamp '2025-03-31'"),
    ("20251399_120000", "invalid date or time in timestamp '20251399_120000'"),
    ("backup/", "malformed timestamp ''"),
    ("backup/latest", "malformed timestamp 'latest'"),
    ("LATEST", "malformed timestamp 'LATEST'"),
    ("refs/tags/backup/20250331_120000", "malformed timestamp"),
    ("x/20250331_120000", "malformed timestamp"),
    ("2026120611", "malformed timestamp '2026120611'"),  # the underscore is not optional
    ("20261206_1234567", "malformed timestamp"),
    # Hostile text: never a pattern, never echoed raw.
    ("2026*", "malformed timestamp '2026*'"),
    ("2026?", "malformed timestamp '2026?'"),
    ("[0-9]*", "malformed timestamp '[0-9]*'"),
    (".*", "malformed timestamp '.*'"),
    ("2026\x1b[31m", r"malformed timestamp '2026\x1b[31m'"),
    ("2026\n12", r"malformed timestamp '2026\n12'"),
    (" 2026", "malformed timestamp ' 2026'"),
    ("2026\n", r"malformed timestamp '2026\n'"),
    ("20261206_110000\n", r"malformed timestamp '20261206_110000\n'"),
    # Digits, but not ASCII ones.
    ("\uff12\uff10\uff12\uff16\uff11\uff12\uff10\uff16_\uff11\uff11\uff10\uff10"
     "\uff10\uff10", "malformed timestamp"),
    ("\uff12\uff10\uff12\uff16", "malformed timestamp"),
])
def test_malformed_text_is_a_usage_error(text: str, phrase: str) -> None:
    for refuse in (check_name, lambda t: named(t)):
        with pytest.raises(UsageError) as caught:
            refuse(text)
        assert caught.value.exit_code == 2
        assert phrase in caught.value.message, caught.value.message
        assert caught.value.hint is not None and "unique prefix" in caught.value.hint


def test_a_long_name_is_refused_without_echoing_it() -> None:
    for text in ("2" * (MAX_NAME_LENGTH + 1), "\x1b" * 1_000_000):
        with pytest.raises(UsageError, match="backup name too long") as caught:
            named(text)
        assert len(caught.value.message) < 150
        assert "\x1b" not in caught.value.message


def test_check_name_says_what_needs_the_list_of_backups() -> None:
    assert check_name("backup/202612") == "202612" and is_prefix("202612")
    assert check_name("latest") == "latest" and not is_prefix("latest")
    assert check_name("20261206_110000") == "20261206_110000" \
        and not is_prefix("20261206_110000")


def test_aliases_plug_in_before_the_grammar() -> None:
    # The hook for issue 26: an alias is looked up as it is written, then the grammar.
    names = BackupNames(["20261206_110000", "20261206_093000"], lambda: "20261206_110000",
                        aliases={"prod": "20261206_093000"})
    assert names.resolve("prod") == "20261206_093000"
    assert names.resolve("latest") == "20261206_110000"
    with pytest.raises(UsageError, match="'staging' names no backup: no alias is called so"):
        names.resolve("staging")

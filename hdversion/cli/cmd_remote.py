"""hdversion remote add | list | test"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render
from hdversion.cli.options import JSON, argument, option
from hdversion.errors import UsageError


def add(
    name: str = argument("NAME", "s3, azure, gcp, or any name."),
    url: str = argument("URL", "s3://bucket/prefix, azure://container/prefix, "
                        "gs://bucket/prefix or a directory."),
    endpoint_url: str | None = option(None, "--endpoint-url", metavar="URL",
                                      help="S3/GCS-compatible endpoint."),
    option_: list[str] | None = option(
        None, "--option", aliases=("-o",), metavar="KEY=VALUE",
        help="Another DVC remote option KEY=VALUE (not a secret); repeatable."),
    lock: str | None = option(None, "--lock", metavar="DURATION",
                              help="S3 Object Lock: every object and manifest written "
                              "is locked this long from its write (30d, 1y)."),
    lock_mode: str | None = option(None, "--lock-mode", metavar="MODE",
                                   help="governance (default) or compliance."),
    encrypt: bool = option(False, "--encrypt",
                           help="Encrypt everything hdversion writes there (the remote must "
                           "be empty); its key: a new key file in ~/.config/hdversion/keys/."),
    as_json: bool = JSON,
) -> None:
    """Add (or replace) a remote in .dvc/config, with download verification on; with
    --lock, its bucket must have Object Lock (the lock is kept in the remote itself); with
    --encrypt, hdversion encrypts every object and record it writes there, and plain DVC can
    no longer read it."""
    options: dict[str, str] = {}
    for item in option_ or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option wants KEY=VALUE, got {item!r}")
        options[key] = value
    # hdversion's own remote options (-o lock=30d) are the flags' (never DVC's config).
    lock = lock or options.pop("lock", None)
    lock_mode = lock_mode or options.pop("lock_mode", None)
    info = api.remote_add(name, url=url, endpoint_url=endpoint_url, options=options, lock=lock,
                          lock_mode=lock_mode, encrypt=encrypt)
    locked = None if lock is None else {"retention": lock, "mode": lock_mode or "governance"}
    if as_json:
        records.emit_result({**vars(info), "lock": locked, "encrypted": encrypt}, None)
    else:
        render.console.print(f"remote [bold]{info.name}[/] -> {info.url} (verify on"
                             + (f", locked {lock} {locked['mode']}" if locked else "")
                             + (", encrypted" if encrypt else "") + ")")
    if info.key_file:
        from hdversion.cli import render_keys

        render_keys.new_key_file_warning(info.key_file, info.name)


def list_remotes(as_json: bool = JSON) -> None:
    """List the DVC remotes hdversion can use."""
    infos = api.remote_list()
    if as_json:
        render.emit_json([{k: v for k, v in vars(i).items() if k != "key_file"}
                          for i in infos])
    else:
        render.console.print(render.remotes_table(infos))


def test(name: str = argument("NAME", "The remote to test."), as_json: bool = JSON) -> None:
    """Write, read back and delete a probe object: a clear verdict on a remote; what it
    says about keeping objects (versioning, Object Lock) and encrypting them at rest."""
    report = api.remote_test(name)
    if as_json:
        records.emit_result({"remote": name, "steps": [{"step": s, "ok": ok, "detail": d}
                                                       for s, ok, d in report.steps],
                             "lock": None if report.lock is None else report.lock.to_json(),
                             "lock_error": report.lock_error or None,
                             "encryption": None if report.at_rest is None
                             else report.at_rest.to_json(),
                             "encryption_error": report.at_rest_error or None},
                            report.failure())
    else:
        render.probe_summary(report)
    finish(report.failure())

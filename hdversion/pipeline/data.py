"""Stage `data`: obtain the raw table and write data/raw/heart.csv (UCI Cleveland schema).

The source is chosen by `data.source` in params.yaml: `synthetic` (seeded generator),
`path` (a local CSV) or `url` (a download, e.g. UCI's processed.cleveland.data). Files may
have the header row or not (UCI's own file has none). Whatever the source, the table is
validated before anything is written, so bad data never becomes an artifact.
"""

from __future__ import annotations

import csv
import http.client
import io
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hdversion.pipeline import synthetic
from hdversion.pipeline.artifacts import atomic_outputs
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import DataParams, Params, Paths
from hdversion.pipeline.errors import DataError
from hdversion.pipeline.schema import COLUMNS, FEATURES, MISSING, TARGET, TARGET_VALUES

# Named explicitly: under `python -m` this module's __name__ is "__main__".
logger = logging.getLogger("hdversion.pipeline")

# A download larger than this is not the 18 kB Cleveland file; stop before filling memory.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
# UCI's file names the target `num`; accept it as an alias in a header.
COLUMN_ALIASES = {"num": TARGET}


def run(params: Params, paths: Paths) -> pd.DataFrame:
    """Load the configured source, validate it and write it to `paths.raw_data`."""
    frame = load_source(params.data, seed=params.seed)
    write_raw(frame, paths.raw_data)
    logger.info(
        "data: wrote %s (%d rows, source %s, %d missing cells)",
        paths.raw_data,
        len(frame),
        params.data.source,
        int(frame.isna().sum().sum()),
    )
    return frame


def load_source(params: DataParams, seed: int) -> pd.DataFrame:
    """The validated table from the configured source."""
    if params.source == "synthetic":
        frame = synthetic.generate(params.synthetic_rows, seed)
        return validate(frame, source="synthetic data", min_rows=params.min_rows)
    if params.source == "path":
        return read_heart_csv(Path(params.path), min_rows=params.min_rows)
    text = download(params.url, timeout=params.timeout_seconds)
    return parse_heart_csv(text, source=params.url, min_rows=params.min_rows)


def read_heart_csv(path: Path, min_rows: int = 1) -> pd.DataFrame:
    """Read and validate a local heart-disease CSV (with or without the header row)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"data path is a directory, not a file: {path}") from None
    return parse_heart_csv(_decode(raw, str(path)), source=str(path), min_rows=min_rows)


def download(url: str, timeout: float) -> str:
    """The body of `url` as text; any network or HTTP failure becomes a DataError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DataError(f"download failed: {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"download failed: {url}: {exc.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # Timeouts and resets raise OSError, a malformed URL ValueError and a truncated or
        # garbled response HTTPException.
        raise DataError(f"download failed: {url}: {exc}") from None
    if len(body) > MAX_DOWNLOAD_BYTES:
        raise DataError(f"download failed: {url}: larger than {MAX_DOWNLOAD_BYTES} bytes")
    return _decode(body, url)


def parse_heart_csv(text: str, source: str, min_rows: int = 1) -> pd.DataFrame:
    """Parse CSV text in the Cleveland schema; `?` (or an empty cell) is a missing value."""
    if not text.strip():
        raise DataError(f"{source}: the file is empty")
    has_header = _has_header(text)
    _check_field_counts(text, source, has_header)
    try:
        # Everything is read as text first so that a bad value can be reported verbatim.
        table = pd.read_csv(
            io.StringIO(text),
            header=0 if has_header else None,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{source}: not a valid CSV file: {exc}") from None
    table = _named_columns(table, has_header, source)
    frame = pd.DataFrame({column: _to_numbers(table[column], column, source) for column in COLUMNS})
    return validate(frame, source=source, min_rows=min_rows)


def validate(frame: pd.DataFrame, source: str, min_rows: int) -> pd.DataFrame:
    """Check row count, target values and feature coverage; return a typed copy."""
    if len(frame) < min_rows:
        raise DataError(
            f"{source}: only {len(frame)} data rows, need at least {min_rows} (data.min_rows)"
        )
    target = frame[TARGET]
    if target.isna().any():
        row = int(target.isna().to_numpy().argmax())
        raise DataError(f"{source}: missing target value in data row {row + 1}")
    bad_target = ~target.isin(TARGET_VALUES)
    if bad_target.any():
        value = target[bad_target].iloc[0]
        raise DataError(f"{source}: target must be one of {TARGET_VALUES} (UCI's num), got {value}")
    empty = [column for column in FEATURES if frame[column].isna().all()]
    if empty:
        raise DataError(f"{source}: column(s) with no values at all: {', '.join(empty)}")
    typed = frame[list(COLUMNS)].astype(float)
    typed[TARGET] = typed[TARGET].astype("int64")
    return typed.reset_index(drop=True)


def write_raw(frame: pd.DataFrame, path: Path) -> None:
    """Write the table with a header, UCI's `?` for missing values, atomically."""
    with atomic_outputs(path) as (temp,):
        frame.to_csv(temp, index=False, na_rep=MISSING)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{source}: not a UTF-8 text file") from None


def _has_header(text: str) -> bool:
    """UCI's own file starts with data; a header starts with a column name."""
    first_cell = text.lstrip().split("\n", 1)[0].split(",", 1)[0].strip().strip('"')
    if first_cell == MISSING:
        return False
    try:
        float(first_cell)
    except ValueError:
        return True
    return False


def _check_field_counts(text: str, source: str, has_header: bool) -> None:
    """Every row must have as many fields as the first one.

    pandas would pad a short row with empty cells, which then read as missing values; a
    truncated line is damage, not missing data, so it is rejected here.
    """
    lines = [row for row in csv.reader(io.StringIO(text)) if "".join(row).strip()]
    expected = len(lines[0])
    for number, row in enumerate(lines[1:] if has_header else lines, start=1):
        if len(row) != expected:
            raise DataError(
                f"{source}: data row {number} has {len(row)} fields, expected {expected}"
            )


def _named_columns(table: pd.DataFrame, has_header: bool, source: str) -> pd.DataFrame:
    if not has_header:
        if table.shape[1] != len(COLUMNS):
            raise DataError(
                f"{source}: expected {len(COLUMNS)} columns without a header "
                f"({','.join(COLUMNS)}), found {table.shape[1]}"
            )
        table.columns = pd.Index(COLUMNS)
        return table
    table.columns = pd.Index(
        [COLUMN_ALIASES.get(str(name).strip(), str(name).strip()) for name in table.columns]
    )
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise DataError(f"{source}: missing column(s): {', '.join(missing)}")
    if table.empty:
        raise DataError(f"{source}: the file has a header but no data rows")
    return table


def _to_numbers(cells: pd.Series, column: str, source: str) -> pd.Series:
    """Convert one text column to floats; `?` and empty cells become NaN."""
    text = cells.astype(str).str.strip()
    missing = text.isin([MISSING, ""]).to_numpy()
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    # Unparsable text becomes NaN; to_numeric also accepts "inf" and "nan", which are not
    # measurements either.
    bad = ~missing & ~np.isfinite(numbers.to_numpy())
    if bad.any():
        row = int(bad.argmax())
        raise DataError(
            f"{source}: non-numeric value {text.iloc[row]!r} in column '{column}' "
            f"(data row {row + 1})"
        )
    return numbers


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("data", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Readers of raw files: small ones row by row, ratings files streamed in blocks."""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from jobs.ingest.parsing import rating_block
from jobs.ingest.report import WRONG_FIELD_COUNT, FileReport, IngestError


@dataclass(frozen=True)
class TextFormat:
    """How one raw file is laid out."""

    sep: str  # "|", "::", "\t" or ","
    encoding: str  # "latin-1" for ml-100k / ml-1m text, "utf-8" for ml-latest CSVs
    header: tuple[str, ...] | None = None  # expected header line (CSV formats)

    @property
    def is_csv(self) -> bool:
        # Only the ml-latest CSVs quote fields ("Heat, The (1995)"); the older formats never do.
        return self.sep == ","


def decode(data: bytes, fmt: TextFormat, report: FileReport) -> str:
    """Decode a whole small file.

    UTF-8 is tried first even for the latin-1 formats: ml-10m's .dat files are UTF-8, ml-1m's
    and ml-100k's are latin-1, and latin-1 text with accents is practically never valid UTF-8.
    A CSV that is not UTF-8 is read as latin-1, and that is noted in the report.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if fmt.encoding == "utf-8":
            report.note = f"not valid UTF-8 (byte {exc.start}); read as latin-1"
        return data.decode("latin-1")


def _check_header(found: list[str], fmt: TextFormat, name: str) -> None:
    if fmt.header is not None and tuple(h.strip() for h in found) != fmt.header:
        raise IngestError(f"{name}: expected header {','.join(fmt.header)!r}, found {','.join(found)!r}")


def iter_rows(
    path: Path, fmt: TextFormat, n_fields: int, report: FileReport
) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, fields) of a small file; rows with the wrong field count are counted and skipped."""
    text = decode(path.read_bytes(), fmt, report)
    lines: Iterator[list[str]]
    if fmt.is_csv:
        lines = csv.reader(io.StringIO(text, newline=""))
    else:
        lines = (line.split(fmt.sep) for line in text.splitlines())
    row = 0
    for i, fields in enumerate(lines):
        if i == 0 and fmt.header is not None:
            _check_header(fields, fmt, path.name)
            continue
        if not fields or fields == [""]:
            continue  # blank line: not a row
        row += 1
        report.rows_read += 1
        if len(fields) != n_fields:
            report.reject(WRONG_FIELD_COUNT)
            report.example(row, WRONG_FIELD_COUNT, fmt.sep.join(fields))
            continue
        yield row, fields


def iter_blocks(f: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """Yield blocks of whole lines, each about ``block_bytes`` long (the last may lack a newline)."""
    carry = b""
    while True:
        data = f.read(block_bytes)
        if not data:
            break
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield data[: cut + 1]
    if carry.strip():
        yield carry


@dataclass
class RatingStats:
    """What streaming a ratings file learned, for users derived from ratings and the summary."""

    n_rows: int = 0
    user_ids: set[str] = field(default_factory=set)
    item_ids: set[str] = field(default_factory=set)
    min_ts: datetime | None = None
    max_ts: datetime | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.n_rows += table.num_rows
        self.user_ids.update(v for v in pc.unique(table.column("user_id")).to_pylist() if v is not None)
        self.item_ids.update(v for v in pc.unique(table.column("item_id")).to_pylist() if v is not None)
        lo, hi = pc.min_max(table.column("event_ts")).values()
        lo_dt, hi_dt = lo.as_py().astimezone(UTC), hi.as_py().astimezone(UTC)
        self.min_ts = lo_dt if self.min_ts is None else min(self.min_ts, lo_dt)
        self.max_ts = hi_dt if self.max_ts is None else max(self.max_ts, hi_dt)


RATING_COLUMNS = ["user_id", "item_id", "rating", "ts"]


def _file_row(block_offset: int, index: int, invalid_rows: list[int]) -> int:
    """File row number of the ``index``-th parsed row of a block, given the block's skipped rows."""
    # The k-th parsed row is the k-th block row not among the invalid ones.
    row = index + 1
    while True:
        skipped = bisect.bisect_right(invalid_rows, row)
        if index + 1 + skipped == row:
            return block_offset + row
        row = index + 1 + skipped


def read_ratings(
    path: Path,
    fmt: TextFormat,
    report: FileReport,
    block_bytes: int,
    sink: Callable[[pa.Table], None],
) -> RatingStats:
    """Stream a user/item/rating/timestamp file to ``sink`` block by block (never all in memory).

    Extra columns after the fourth are not allowed; rows with the wrong field count and rows
    whose ids, rating or timestamp do not parse are counted in ``report`` and not landed.
    """
    stats = RatingStats()
    sep = "\t" if fmt.sep == "::" else fmt.sep  # Arrow's parser wants a one-byte delimiter
    offset = 0
    with path.open("rb") as f:
        if fmt.header is not None:
            _check_header(f.readline().decode("utf-8-sig").strip().split(","), fmt, path.name)
        for block in iter_blocks(f, block_bytes):
            if fmt.sep == "::":
                block = block.replace(b"::", b"\t")
            if not block.isascii():
                # Arrow wants UTF-8; non-ASCII bytes in a numeric file end up as unparsable ids.
                block = block.decode(fmt.encoding, errors="replace").encode("utf-8")
            invalid: list[tuple[int | None, str]] = []

            def on_invalid(row: pacsv.InvalidRow, invalid: list[tuple[int | None, str]] = invalid) -> str:
                invalid.append((row.number, row.text))
                return "skip"

            try:
                raw = pacsv.read_csv(
                    pa.py_buffer(block),
                    read_options=pacsv.ReadOptions(column_names=RATING_COLUMNS, use_threads=False),
                    parse_options=pacsv.ParseOptions(
                        delimiter=sep, quote_char='"' if fmt.is_csv else False, invalid_row_handler=on_invalid
                    ),
                    convert_options=pacsv.ConvertOptions(
                        column_types=dict.fromkeys(RATING_COLUMNS, pa.string())
                    ),
                )
            except pa.ArrowInvalid as exc:
                raise IngestError(f"{path.name}: cannot parse rows {offset + 1}..: {exc}") from None
            n_block = raw.num_rows + len(invalid)
            report.rows_read += n_block
            for number, text in invalid:
                report.reject(WRONG_FIELD_COUNT)
                row = None if number is None else offset + number
                report.example(row, WRONG_FIELD_COUNT, text.replace("\t", fmt.sep))
            parsed = rating_block(raw, fmt.sep)
            report.add_rejections(parsed.rejected)
            invalid_rows = sorted(n for n, _ in invalid if n is not None)
            for index, reason, text in parsed.examples:
                report.example(_file_row(offset, index, invalid_rows), reason, text)
            report.warn("null_user_id", parsed.null_user_ids)
            report.warn("null_item_id", parsed.null_item_ids)
            report.rows_written += parsed.table.num_rows
            stats.add(parsed.table)
            sink(parsed.table)
            offset += n_block
    return stats

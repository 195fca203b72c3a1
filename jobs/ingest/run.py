"""Entry point: ``python -m jobs.ingest --raw-dir DIR [--out-dir DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from jobs.ingest.formats import (
    LAMBDAREC_SAMPLE,
    check_links,
    detect_format,
    read_descriptions,
    read_items,
    read_tags,
    read_users,
)
from jobs.ingest.landing import (
    INTERACTIONS_DIR,
    ITEMS_FILE,
    ITEMS_SCHEMA,
    REPORT_FILE,
    USERS_FILE,
    USERS_SCHEMA,
    PartWriter,
    staged_dir,
    write_rows,
)
from jobs.ingest.readers import read_ratings
from jobs.ingest.report import FileReport, IngestError, IngestReport
from jobs.ingest.settings import IngestSettings


def _check_malformed(reports: list[FileReport], max_share: float) -> None:
    """Fail when any file has more malformed rows than allowed (the landing is then left as it was)."""
    bad = [r for r in reports if r.rows_read and r.rejected_share > max_share]
    if bad:
        details = "; ".join(
            f"{r.file}: {r.n_rejected} of {r.rows_read} rows malformed ({r.rejected_share:.1%}: "
            + ", ".join(f"{k}={v}" for k, v in sorted(r.rows_rejected.items()))
            + ")"
            + (f", e.g. row {r.examples[0].row}: {r.examples[0].text!r}" if r.examples else "")
            for r in bad
        )
        raise IngestError(
            f"too many malformed rows (allowed: {max_share:.1%} per file) -- {details}. "
            "The previous landing was left unchanged."
        )


def ingest(
    raw_dir: Path,
    out_dir: Path,
    max_malformed_share: float = 0.01,
    chunk_bytes: int = 32 * 1024 * 1024,
    max_tags_per_item: int = 50,
) -> IngestReport:
    """Read one raw directory and replace ``out_dir`` (the landing directory) with its canonical tables.

    Raises IngestError for bad input; ``out_dir`` is then untouched.
    """
    started = time.monotonic()
    fmt_name, layout = detect_format(raw_dir)
    reports: list[FileReport] = []

    def present(spec: tuple[str, object] | None) -> bool:
        return spec is not None and (raw_dir / spec[0]).is_file()

    with staged_dir(out_dir) as tmp:
        items_report = FileReport(file=layout.items[0])
        reports.append(items_report)
        items = read_items(raw_dir / layout.items[0], layout.items[1], fmt_name, items_report)
        known_items = {row["item_id"] for row in items}

        if layout.tags is not None and present(layout.tags):
            tags_report = FileReport(file=layout.tags[0])
            reports.append(tags_report)
            tags = read_tags(raw_dir / layout.tags[0], layout.tags[1], tags_report).result(max_tags_per_item)
            tags_report.warn("unknown_item", sum(1 for i in tags if i not in known_items))
            for row in items:
                row["tags"] = tags.get(row["item_id"], "")
        if layout.descriptions is not None and present(layout.descriptions):
            desc_report = FileReport(file=layout.descriptions[0])
            reports.append(desc_report)
            descriptions = read_descriptions(
                raw_dir / layout.descriptions[0], layout.descriptions[1], desc_report
            )
            desc_report.warn("unknown_item", sum(1 for i in descriptions if i not in known_items))
            for row in items:
                row["description"] = descriptions.get(row["item_id"], "")
        if layout.links is not None and present(layout.links):
            links_report = FileReport(file=layout.links[0])
            reports.append(links_report)
            check_links(raw_dir / layout.links[0], layout.links[1], links_report)

        ratings_report = FileReport(file=layout.ratings[0])
        reports.append(ratings_report)
        parts = PartWriter(tmp / INTERACTIONS_DIR)
        stats = read_ratings(
            raw_dir / layout.ratings[0], layout.ratings[1], ratings_report, chunk_bytes, parts.write
        )
        parts.finish()

        if layout.users is not None and present(layout.users):
            users_report = FileReport(file=layout.users[0])
            reports.append(users_report)
            users = read_users(raw_dir / layout.users[0], layout.users[1], fmt_name, users_report)
        else:
            # ml-latest has no user file: land every user seen in the ratings, attributes unknown.
            users = [
                {"user_id": u, "gender": None, "age": None, "occupation": None, "zip_code": None}
                for u in sorted(stats.user_ids, key=lambda u: (len(u), u))
            ]

        _check_malformed(reports, max_malformed_share)
        write_rows(items, ITEMS_SCHEMA, tmp / ITEMS_FILE)
        write_rows(users, USERS_SCHEMA, tmp / USERS_FILE)
        report = IngestReport(
            format=fmt_name,
            raw_dir=str(raw_dir.resolve()),
            out_dir=str(out_dir.resolve()),
            max_malformed_share=max_malformed_share,
            files=reports,
            n_items=len(items),
            n_users=len(users),
            n_interactions=parts.n_rows,
            n_interaction_parts=parts.n_parts,
            n_interaction_users=len(stats.user_ids),
            n_interaction_items=len(stats.item_ids),
            first_event_ts=stats.min_ts.isoformat() if stats.min_ts else None,
            last_event_ts=stats.max_ts.isoformat() if stats.max_ts else None,
            duration_s=round(time.monotonic() - started, 3),
        )
        (tmp / REPORT_FILE).write_text(report.model_dump_json(indent=2) + "\n")
    return report


def summary(report: IngestReport) -> str:
    """A short human summary of one run."""
    fmt = "sample data" if report.format == LAMBDAREC_SAMPLE else report.format
    lines = [
        f"ingested {fmt} from {report.raw_dir} -> {report.out_dir} in {report.duration_s:.1f}s",
        f"  interactions: {report.n_interactions:,} in {report.n_interaction_parts} part(s), "
        f"{report.n_interaction_users:,} users x {report.n_interaction_items:,} items",
        f"  items: {report.n_items:,}   users: {report.n_users:,}",
        f"  time span: {report.first_event_ts} .. {report.last_event_ts}",
        f"  rejected rows: {report.n_rejected:,}",
    ]
    for f in report.files:
        extra = ""
        if f.rows_rejected:
            extra += "  rejected " + ", ".join(f"{k}={v}" for k, v in sorted(f.rows_rejected.items()))
        if f.warnings:
            extra += "  warnings " + ", ".join(f"{k}={v}" for k, v in sorted(f.warnings.items()))
        lines.append(f"    {f.file}: read {f.rows_read:,}, landed {f.rows_written:,}{extra}")
        for ex in f.examples:
            lines.append(f"      row {ex.row}: {ex.reason}: {ex.text!r}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.ingest", description=__doc__)
    p.add_argument("--raw-dir", type=Path, required=True, help="directory with MovieLens-format files")
    p.add_argument(
        "--out-dir", type=Path, default=None, help="landing directory (default: settings' landing_dir)"
    )
    p.add_argument(
        "--max-malformed-share",
        type=float,
        default=None,
        help="fail when more than this share of a file's rows is malformed "
        "(default: LAMBDAREC_INGEST_MAX_MALFORMED_SHARE or 0.01)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = IngestSettings()
    except ValidationError as exc:
        print(f"ingest: invalid settings in the environment: {exc}", file=sys.stderr)
        return 2
    try:
        report = ingest(
            raw_dir=args.raw_dir,
            out_dir=args.out_dir or settings.landing_dir,
            max_malformed_share=(
                args.max_malformed_share
                if args.max_malformed_share is not None
                else settings.max_malformed_share
            ),
            chunk_bytes=settings.chunk_bytes,
            max_tags_per_item=settings.max_tags_per_item,
        )
    except IngestError as exc:
        print(f"ingest failed: {exc}", file=sys.stderr)
        return 1
    print(summary(report))
    return 0

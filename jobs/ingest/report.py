"""The ingest report (``landing/ingest_report.json``) and the error raised for bad input."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

MAX_EXAMPLES = 5


class IngestError(Exception):
    """Expected bad input (missing files, unknown format, too many malformed rows).

    The CLI prints the message and exits non-zero without a stack trace.
    """


# Reasons a row is rejected. Range problems (rating 7.5, duplicate ids, empty keys) are not
# here on purpose: those rows are landed so that dbt's tests fail on them by name.
WRONG_FIELD_COUNT = "wrong_field_count"
UNPARSABLE_ID = "unparsable_id"
UNPARSABLE_RATING = "unparsable_rating"
UNPARSABLE_TIMESTAMP = "unparsable_timestamp"
UNPARSABLE_NUMBER = "unparsable_number"


class RejectedExample(BaseModel):
    row: int | None  # 1-based data row in the file (header and blank lines not counted), if known
    reason: str
    text: str


class FileReport(BaseModel):
    """Counts for one raw file."""

    file: str
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: dict[str, int] = Field(default_factory=dict)
    # Landed but worth a look (e.g. empty keys, which dbt's not_null tests will stop on).
    warnings: dict[str, int] = Field(default_factory=dict)
    examples: list[RejectedExample] = Field(default_factory=list)
    note: str = ""

    @property
    def n_rejected(self) -> int:
        return sum(self.rows_rejected.values())

    @property
    def rejected_share(self) -> float:
        return self.n_rejected / self.rows_read if self.rows_read else 0.0

    def reject(self, reason: str, count: int = 1) -> None:
        if count:
            self.rows_rejected[reason] = self.rows_rejected.get(reason, 0) + count

    def warn(self, what: str, count: int = 1) -> None:
        if count:
            self.warnings[what] = self.warnings.get(what, 0) + count

    def example(self, row: int | None, reason: str, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(RejectedExample(row=row, reason=reason, text=text[:200]))

    def add_rejections(self, counts: Counter[str]) -> None:
        for reason, n in counts.items():
            self.reject(reason, n)


class IngestReport(BaseModel):
    """Everything one ingestion run read, wrote and rejected."""

    format: str
    raw_dir: str
    out_dir: str
    max_malformed_share: float
    files: list[FileReport]
    n_items: int
    n_users: int
    n_interactions: int
    n_interaction_parts: int
    n_interaction_users: int
    n_interaction_items: int
    first_event_ts: str | None  # ISO-8601 UTC
    last_event_ts: str | None
    duration_s: float

    @property
    def n_rejected(self) -> int:
        return sum(f.n_rejected for f in self.files)

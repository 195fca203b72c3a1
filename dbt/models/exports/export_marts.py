"""Copy the tested marts out of the warehouse to <data_dir>/marts/<name>.parquet for Spark.

This model depends on every mart, so `dbt build` runs it only after all the tests of the marts and of
everything upstream have passed; when one fails, dbt skips it and the previous export stays as it
was. Each file is written next to its target and renamed over it (atomic on one file system), so a
reader never sees a half-written file. The model's own table records what was exported.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

# Mart -> sort key: a stable row order makes exports reproducible and diffs readable.
SORT_KEYS = {
    "dim_items": "item_id",
    "dim_users": "user_id",
    "fct_interactions": "event_ts, interaction_id",
}


def _write_all(relations: dict, export_dir: Path, stamp: str) -> dict[str, int]:
    """Write every mart to a temporary file, then rename them all into place; return row counts."""
    export_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    rows: dict[str, int] = {}
    try:
        for name, relation in relations.items():
            tmp = export_dir / f".{name}.parquet.{stamp}.tmp"
            staged[name] = tmp
            relation.order(SORT_KEYS[name]).write_parquet(str(tmp), compression="zstd")
            rows[name] = relation.aggregate("count(*)").fetchall()[0][0]
    except Exception:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    # Renames only once every file is written: a failed write leaves all previous files in place.
    for name, tmp in staged.items():
        os.replace(tmp, export_dir / f"{name}.parquet")
    return rows


def model(dbt, session):
    dbt.config(materialized="table")
    export_dir = Path(dbt.config.get("export_dir"))
    relations = {
        "dim_items": dbt.ref("dim_items"),
        "dim_users": dbt.ref("dim_users"),
        "fct_interactions": dbt.ref("fct_interactions"),
    }
    exported_at = datetime.now(UTC)
    rows = _write_all(relations, export_dir, exported_at.strftime("%Y%m%dT%H%M%S%f"))
    manifest = {
        "exported_at": exported_at.isoformat(),
        "marts": {name: {"path": f"{name}.parquet", "rows": n} for name, n in rows.items()},
    }
    tmp_manifest = export_dir / "._export.json.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, export_dir / "_export.json")
    return pd.DataFrame(
        {
            "mart": list(rows),
            "path": [str(export_dir / f"{name}.parquet") for name in rows],
            "n_rows": list(rows.values()),
            "exported_at": [exported_at] * len(rows),
        }
    )

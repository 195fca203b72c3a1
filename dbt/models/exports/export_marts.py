"""Copy the tested marts out of the warehouse to <data_dir>/marts/<name>.parquet for Spark.

This model depends on every mart, so `dbt build` runs it only after all the tests of the marts and of
everything upstream have passed; when one fails, dbt skips it and the previous export stays as it
was. Files are written with exactly the column names, order and Arrow types of the contracts
(lambdarec_contracts.tables.*_COLUMNS, every field nullable, whatever the data), next to their
target, and renamed over it only once all three are written (each rename is atomic), so a reader
never sees a half-written file. The model's own table records what was exported.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lambdarec_contracts.arrow import arrow_schema
from lambdarec_contracts.tables import DIM_ITEMS_COLUMNS, DIM_USERS_COLUMNS, FCT_INTERACTIONS_COLUMNS

# Mart -> (contract columns, sort key): a stable row order makes exports reproducible.
MARTS = {
    "dim_items": (DIM_ITEMS_COLUMNS, "item_id"),
    "dim_users": (DIM_USERS_COLUMNS, "user_id"),
    "fct_interactions": (FCT_INTERACTIONS_COLUMNS, "event_ts, interaction_id"),
}
BATCH_ROWS = 256_000


def write_mart(relation, schema: pa.Schema, sort_key: str, path: Path) -> int:
    """Stream one mart into a Parquet file cast to the contract schema; return its row count."""
    names = [field.name for field in schema]
    if relation.columns != names:
        raise ValueError(f"{path.name}: columns {relation.columns} differ from the contract {names}")
    n_rows = 0
    reader = relation.order(sort_key).to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch.cast(schema))
            n_rows += batch.num_rows
    return n_rows


def export_all(relations: dict, export_dir: Path, stamp: str) -> dict[str, int]:
    """Write every mart to a temporary file, then rename them all into place; return row counts."""
    export_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    rows: dict[str, int] = {}
    try:
        for name, relation in relations.items():
            columns, sort_key = MARTS[name]
            staged[name] = export_dir / f".{name}.parquet.{stamp}.tmp"
            rows[name] = write_mart(relation, arrow_schema(columns), sort_key, staged[name])
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
    stamp = exported_at.strftime("%Y%m%dT%H%M%S%f")
    rows = export_all(relations, export_dir, stamp)
    manifest = {
        "exported_at": exported_at.isoformat(),
        "marts": {name: {"path": f"{name}.parquet", "rows": n} for name, n in rows.items()},
    }
    tmp_manifest = export_dir / f"._export.json.{stamp}.tmp"
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

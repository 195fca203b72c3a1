"""Arrow schemas of the contract's column dictionaries (``tables.*_COLUMNS``).

The one mapping from the contracts' logical type names to Arrow types, for every writer of a
contract table (ingestion, the dbt export, the speed layer's landing). Imports pyarrow, which
every environment has; import this module only where Parquet is written.
"""

from __future__ import annotations

import pyarrow as pa

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "list<string>": pa.list_(pa.string()),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date32": pa.date32(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of a contract column dictionary (name -> logical type), in its order."""
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in columns.items()])

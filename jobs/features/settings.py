"""Environment of the feature jobs (and the other Spark steps), parsed once per process."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from lambdarec_contracts.settings import BaseLambdarecSettings

# local, local[N], local[*], local[N,F], spark://host:port[,host:port], k8s://..., yarn
_MASTER = re.compile(
    r"^(local(\[(\d+|\*)(,\d+)?\])?|spark://[\w.-]+(:\d+)?(,[\w.-]+(:\d+)?)*|k8s://\S+|yarn)$"
)
_MEMORY = re.compile(r"^\d+[kmgt]?$", re.IGNORECASE)


class FeaturesSettings(BaseLambdarecSettings):
    """Where Spark runs and how big it is; run parameters are CLI flags instead."""

    spark_master: str = Field(default="local[*]", alias="SPARK_MASTER")
    spark_driver_memory: str = Field(default="2g", alias="SPARK_DRIVER_MEMORY")
    # Per executor on a cluster (Spark's default 1g when unset); local mode runs in the driver.
    spark_executor_memory: str | None = Field(default=None, alias="SPARK_EXECUTOR_MEMORY")
    # Spark's default of 200 shuffle partitions is pure overhead on a laptop-sized data set.
    spark_shuffle_partitions: int = Field(default=8, ge=1, alias="LAMBDAREC_SPARK_SHUFFLE_PARTITIONS")
    # Files per written partition; 1 keeps small snapshots in one file, raise it at scale.
    # Any other Spark settings, as JSON: LAMBDAREC_SPARK_CONF='{"spark.executor.cores": "2"}'.
    spark_conf: dict[str, str] = Field(default_factory=dict, alias="LAMBDAREC_SPARK_CONF")
    output_files: int = Field(default=1, ge=1, alias="LAMBDAREC_FEATURES_OUTPUT_FILES")

    @field_validator("spark_master")
    @classmethod
    def _master(cls, value: str) -> str:
        if not _MASTER.match(value):
            raise ValueError(
                f"SPARK_MASTER {value!r} is not local[...], spark://host:port, k8s://... or yarn"
            )
        return value

    @field_validator("spark_driver_memory", "spark_executor_memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"Spark memory {value!r} must look like 512m or 4g")
        return value

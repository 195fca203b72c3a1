"""Environment of the feature jobs, parsed once per process."""

from __future__ import annotations

from pydantic import Field

from lambdarec_contracts.settings import BaseLambdarecSettings


class FeaturesSettings(BaseLambdarecSettings):
    """Where Spark runs and how big it is; run parameters are CLI flags instead."""

    spark_master: str = Field(default="local[*]", alias="SPARK_MASTER")
    spark_driver_memory: str = Field(default="2g", alias="SPARK_DRIVER_MEMORY")
    # Spark's default of 200 shuffle partitions is pure overhead on a laptop-sized data set.
    spark_shuffle_partitions: int = Field(default=8, ge=1, alias="LAMBDAREC_SPARK_SHUFFLE_PARTITIONS")
    # Files per written partition; 1 keeps small snapshots in one file, raise it at scale.
    # Any other Spark settings, as JSON: LAMBDAREC_SPARK_CONF='{"spark.executor.memory": "4g"}'.
    spark_conf: dict[str, str] = Field(default_factory=dict, alias="LAMBDAREC_SPARK_CONF")
    output_files: int = Field(default=1, ge=1, alias="LAMBDAREC_FEATURES_OUTPUT_FILES")

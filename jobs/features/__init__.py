"""Spark feature jobs: user and item feature snapshots for Feast's offline store.

``python -m jobs.features --ds YYYY-MM-DD`` reads the dbt marts exported as Parquet
(``$LAMBDAREC_DATA_DIR/marts/``) and writes one date partition per table under
``$LAMBDAREC_DATA_DIR/features/<table>/ds=<ds>/``.

Modules: ``transforms`` (pure DataFrame -> DataFrame), ``schemas`` (output schemas from
the contracts), ``io`` (reading, validating, partition writing), ``session`` (SparkSession),
``settings`` (environment), ``__main__`` (CLI). Nothing is imported eagerly here, so that
importing the package does not pull in PySpark.
"""

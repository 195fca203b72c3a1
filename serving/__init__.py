"""lambdarec serving API: a thin FastAPI service (no TensorFlow, Airflow, Spark or Feast imports)."""

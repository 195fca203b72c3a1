# syntax=docker/dockerfile:1
# lambdarec Airflow: the pipeline env (Airflow 3, dbt-duckdb, PySpark, Feast) + Java for Spark +
# the code the DAGs run (dags/, dbt/, jobs/, feature_repo/). One image for the api-server,
# scheduler, dag-processor, triggerer and the `airflow db migrate` init job.
# Build from the repo root:
#   docker build -f docker/airflow.Dockerfile --target airflow -t lambdarec-airflow .
#   docker build -f docker/airflow.Dockerfile --target airflow-with-training -t lambdarec-airflow-all .
# `airflow` (production) keeps TensorFlow out: training runs in the training image
# (KubernetesPodOperator); `airflow-with-training` adds the training env as an external Python
# for single-host stacks (docker/compose.yaml). Why: docker/README.md.

# ---- pipeline env ----
FROM python:3.11.14-slim-bookworm AS pipeline-builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.8"
COPY requirements/pipeline.lock /tmp/requirements/pipeline.lock
RUN uv venv --python /usr/local/bin/python3.11 /opt/venvs/pipeline \
 && uv pip sync --python /opt/venvs/pipeline/bin/python /tmp/requirements/pipeline.lock

# ---- training env (only built for the airflow-with-training target) ----
FROM python:3.11.14-slim-bookworm AS training-builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.8"
COPY requirements/training.lock requirements/training-nodeps.txt /tmp/requirements/
RUN uv venv --python /usr/local/bin/python3.11 /opt/venvs/training \
 && uv pip sync --python /opt/venvs/training/bin/python /tmp/requirements/training.lock \
 && uv pip install --python /opt/venvs/training/bin/python --no-deps -r /tmp/requirements/training-nodeps.txt

# ---- runtime ----
FROM python:3.11.14-slim-bookworm AS airflow-base
# Java 17 for Spark (PySpark 4 needs 17+); procps because Spark's launch scripts call `ps`.
# Versions come from the pinned Debian release of the base image (bookworm security updates).
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/* \
 # JAVA_HOME without the CPU architecture in the path (amd64 and arm64 builds alike).
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java \
 && groupadd --system --gid 10001 lambdarec \
 && useradd --system --uid 10001 --gid lambdarec --home-dir /opt/airflow --shell /usr/sbin/nologin lambdarec \
 && mkdir -p /opt/airflow/logs /opt/airflow/dbt/target /opt/airflow/dbt/logs /data/models /data/events \
 && chown -R lambdarec:lambdarec /opt/airflow /data
COPY --from=pipeline-builder /opt/venvs/pipeline /opt/venvs/pipeline
WORKDIR /app
COPY lambdarec_contracts/ /app/lambdarec_contracts/
COPY dags/ /app/dags/
COPY dbt/ /app/dbt/
COPY jobs/ /app/jobs/
COPY feature_repo/ /app/feature_repo/
COPY docker/healthcheck.py /app/docker/healthcheck.py
# LAMBDAREC_VENVS: dags/lambdarec_common.python_of() finds each env's python there.
# DBT_TARGET_PATH / DBT_LOG_PATH: the code under /app is read-only for the airflow user.
ENV PATH=/opt/venvs/pipeline/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JAVA_HOME=/opt/java \
    SPARK_MASTER=local[*] \
    LAMBDAREC_VENVS=/opt/venvs \
    LAMBDAREC_DATA_DIR=/data \
    DBT_TARGET_PATH=/opt/airflow/dbt/target \
    DBT_LOG_PATH=/opt/airflow/dbt/logs \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
# The api-server's health endpoint; compose overrides it per component (scheduler, dag-processor).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=5 \
    CMD ["python", "/app/docker/healthcheck.py", "http", "http://127.0.0.1:8080/api/v2/monitor/health"]
ENTRYPOINT ["airflow"]
CMD ["api-server"]

# ---- single-host variant: the training env as an external Python ----
FROM airflow-base AS airflow-with-training
COPY --from=training-builder /opt/venvs/training /opt/venvs/training
COPY training/ /app/training/
# Read by dags/lambdarec_common.python_of("training") through LAMBDAREC_VENVS; TFRS needs legacy Keras.
ENV TF_USE_LEGACY_KERAS=1

# ---- production (default target): pipeline env only ----
FROM airflow-base AS airflow

# syntax=docker/dockerfile:1
# lambdarec serving API: FastAPI + ONNX Runtime, no TensorFlow / Spark / Airflow.
# Build from the repo root:  docker build -f docker/serving.Dockerfile -t lambdarec-serving .
# Stateless: it reads the model bundle from LAMBDAREC_DATA_DIR/models/current (a read-only
# volume written by the training DAG), so any number of replicas can run side by side.

# ---- build stage: resolve nothing, install exactly requirements/serving.lock ----
FROM python:3.11.14-slim-bookworm AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Same uv as scripts/setup_envs.sh, so images and developer envs install the same way.
RUN pip install "uv==0.13.8"
COPY requirements/serving.lock /tmp/requirements/serving.lock
RUN uv venv --python /usr/local/bin/python3.11 /opt/venvs/serving \
 && uv pip sync --python /opt/venvs/serving/bin/python /tmp/requirements/serving.lock \
 # serving.lock carries pytest for tests/serving_env; the image runs no tests.
 && uv pip uninstall --python /opt/venvs/serving/bin/python pytest iniconfig pluggy pygments

# ---- runtime stage: the venv, the code, a non-root user ----
FROM python:3.11.14-slim-bookworm AS runtime
# One uid for every lambdarec image: the shared data/models volumes stay readable and writable.
RUN groupadd --system --gid 10001 lambdarec \
 && useradd --system --uid 10001 --gid lambdarec --home-dir /app --shell /usr/sbin/nologin lambdarec \
 && mkdir -p /data/models /tmp/lambdarec-metrics \
 && chown -R lambdarec:lambdarec /data /tmp/lambdarec-metrics
COPY --from=builder /opt/venvs/serving /opt/venvs/serving
WORKDIR /app
# The repo root goes on PYTHONPATH (setup_envs.sh uses a .pth for the same purpose).
COPY lambdarec_contracts/ /app/lambdarec_contracts/
COPY serving/ /app/serving/
COPY docker/healthcheck.py docker/check_secrets.sh /app/docker/
ENV PATH=/opt/venvs/serving/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LAMBDAREC_DATA_DIR=/data \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/lambdarec-metrics \
    WEB_CONCURRENCY=1
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "http", "http://127.0.0.1:8000/healthz"]
# uvicorn starts WEB_CONCURRENCY worker processes (compose: WORKERS); /metrics aggregates them
# through PROMETHEUS_MULTIPROC_DIR, which must start empty (compose mounts a tmpfs there).
CMD ["uvicorn", "serving.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--no-server-header"]

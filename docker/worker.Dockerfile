# syntax=docker/dockerfile:1
# lambdarec speed-layer worker: consumes the events stream (consumer group), pushes real-time
# features through Feast, keeps seen-sets and trending fresh, lands events as Parquet.
# Build from the repo root:  docker build -f docker/worker.Dockerfile -t lambdarec-worker .
# It needs the pipeline env (Feast's push API), but no Java: it never starts Spark.

FROM python:3.11.14-slim-bookworm AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.8"
COPY requirements/pipeline.lock /tmp/requirements/pipeline.lock
RUN uv venv --python /usr/local/bin/python3.11 /opt/venvs/pipeline \
 && uv pip sync --python /opt/venvs/pipeline/bin/python /tmp/requirements/pipeline.lock

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 lambdarec \
 && useradd --system --uid 10001 --gid lambdarec --home-dir /app --shell /usr/sbin/nologin lambdarec \
 && mkdir -p /data/events \
 && chown -R lambdarec:lambdarec /data
COPY --from=builder /opt/venvs/pipeline /opt/venvs/pipeline
WORKDIR /app
COPY lambdarec_contracts/ /app/lambdarec_contracts/
COPY jobs/ /app/jobs/
COPY feature_repo/ /app/feature_repo/
COPY docker/healthcheck.py docker/check_secrets.sh /app/docker/
ENV PATH=/opt/venvs/pipeline/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LAMBDAREC_DATA_DIR=/data
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
# Healthy while the speed-layer consumer group keeps up: no stream entry has waited more than
# 2 minutes to be delivered (an idle stream is healthy; a dead or hung worker is not).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "stream-consumer", "--max-lag-s", "120"]
CMD ["python", "-m", "jobs.stream_worker"]

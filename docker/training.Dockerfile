# syntax=docker/dockerfile:1
# lambdarec training: TensorFlow (CPU) + TensorFlow Recommenders + tf2onnx, run as a batch job
# (KubernetesPodOperator in production, or copied into the Airflow image as an external Python;
# see docker/README.md). Build from the repo root:
#   docker build -f docker/training.Dockerfile -t lambdarec-training .

FROM python:3.11.14-slim-bookworm AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.8"
COPY requirements/training.lock requirements/training-nodeps.txt /tmp/requirements/
RUN uv venv --python /usr/local/bin/python3.11 /opt/venvs/training \
 && uv pip sync --python /opt/venvs/training/bin/python /tmp/requirements/training.lock \
 # --no-deps: tf-keras / TFRS metadata would pull the full `tensorflow` wheel next to tensorflow-cpu.
 && uv pip install --python /opt/venvs/training/bin/python --no-deps -r /tmp/requirements/training-nodeps.txt

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 lambdarec \
 && useradd --system --uid 10001 --gid lambdarec --home-dir /app --shell /usr/sbin/nologin lambdarec \
 && mkdir -p /data/models \
 && chown -R lambdarec:lambdarec /data
COPY --from=builder /opt/venvs/training /opt/venvs/training
WORKDIR /app
COPY lambdarec_contracts/ /app/lambdarec_contracts/
COPY training/ /app/training/
ENV PATH=/opt/venvs/training/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LAMBDAREC_DATA_DIR=/data \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=1
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
# A batch job, not a service: the orchestrator judges it by its exit code, and a periodic
# probe would only import TensorFlow again on cores the training run needs.
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m"]
CMD ["training.train", "--help"]

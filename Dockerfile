# syntax=docker/dockerfile:1
# One image for every Python service of docker-compose.yml: api, worker, locust-master, locust-worker.
# The command picks the role (`sse-harness serve`, `sse-harness worker`, `locust ...`).
#
# Two stages: the build stage has a compiler (a dependency without a wheel for the platform can build)
# and pip's leftovers; the runtime stage gets only the finished virtualenv, runs as a non-root user and
# stays on python:slim.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes, not on every
# source edit (empty stand-in packages let pip resolve the project's dependencies). README.md* copies the
# readme that pyproject.toml names where it exists, and does not fail the build where it does not.
COPY pyproject.toml README.md* ./
RUN for p in sse_contract sse_client reference_app simulators conformance loadtests sse_harness; do \
      mkdir "$p" && touch "$p/__init__.py"; done \
 && pip install . \
 && pip uninstall -y sse-harness \
 && rm -rf sse_contract sse_client reference_app simulators conformance loadtests sse_harness build
COPY sse_contract ./sse_contract
COPY sse_client ./sse_client
COPY reference_app ./reference_app
COPY simulators ./simulators
COPY conformance ./conformance
COPY loadtests ./loadtests
COPY sse_harness ./sse_harness
RUN pip install --no-deps . && rm -rf build

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Locust takes its locustfile as a path; the healthcheck runs as a plain script.
COPY loadtests ./loadtests
COPY deploy/healthcheck.py ./deploy/healthcheck.py
USER app
EXPOSE 8000
# No HEALTHCHECK here: the image has several roles; docker-compose.yml gives each service its own.
CMD ["sse-harness", "serve", "--host", "0.0.0.0", "--port", "8000"]

# The controller's image: `docker build -t REGISTRY/canary:TAG .` (docs/operations/install.md).
# Stage 1 builds the wheels of canary and of every dependency; stage 2 installs them into a slim
# Python with no build tools and runs `canary controller` as a non-root user. The base is pinned
# to a patch release; pin it by digest (python:...@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY canary ./canary
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The wheels are mounted for this step only, so they add no layer to the final image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/canary-*.whl
# A numeric user, so that Kubernetes' runAsNonRoot can check it (deploy/base/deployment.yaml).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["canary", "controller"]

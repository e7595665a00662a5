# The consolidation code location as an image: the code server, every run container the
# DockerRunLauncher or K8sRunLauncher starts, and the webserver and daemon of deploy/docker.
#
# Build it with `make image` (deploy/docker/build-image.sh): the wheels are made on the host
# with `pip wheel` against requirements.lock, and installed here with `pip install --no-index`,
# so the build needs no network (it runs with --network none) and works air-gapped. BASE is
# any image with Python 3.11 and its venv module; `make image` builds one from Debian
# packages when python:3.11-slim cannot be pulled.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
LABEL org.consolidation-assets.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.lock /build/requirements.lock
# The dependencies first, in a layer of their own: it is reused while the lock is unchanged.
COPY build/image/wheels /build/wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /build/wheels \
      -c /build/requirements.lock -r /build/wheels/requirements.txt
COPY build/image/project /build/project
RUN /opt/venv/bin/pip install --no-index --no-deps /build/project/*.whl
# The ONNX export of the packaged model, made and checked against PyTorch here, once, rather
# than by every run container at its first embedding: a run container is thrown away after its
# run, so an export made there would be made again by the next. fp32 is the default runtime,
# int8 the opt-in one; both are read-only at run time.
WORKDIR /tmp
RUN /opt/venv/bin/python -c "from pathlib import Path; \
from consolidation_assets.services.onnx_embedder import ensure_export; \
print(ensure_export(Path('/opt/consolidation/models'))); \
print(ensure_export(Path('/opt/consolidation/models'), int8=True))" \
 && chmod -R a+rX /opt/consolidation/models

FROM ${BASE}
LABEL org.opencontainers.image.title="consolidation-assets" \
      org.opencontainers.image.description="Per-project consolidation of agent memories as Dagster assets"
RUN groupadd --gid 10001 consolidation \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/consolidation consolidation \
 && mkdir -p /opt/dagster/dagster_home /opt/dagster/app \
 && chown consolidation:consolidation /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/consolidation/models /opt/consolidation/models
COPY deploy/docker/dagster.docker.yaml /opt/dagster/dagster_home/dagster.yaml
COPY deploy/docker/workspace.yaml /opt/dagster/app/workspace.yaml
ENV PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    CONSOLIDATION_MODEL_CACHE=/opt/consolidation/models \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONUNBUFFERED=1
USER consolidation
WORKDIR /opt/dagster/app
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "consolidation_assets.defs.definitions", "--location-name", "consolidation"]

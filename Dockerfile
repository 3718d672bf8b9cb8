# The pipeline image: every Vertex AI Pipelines step and every Dataflow worker runs in it.
# Build: make image IMAGE=REGION-docker.pkg.dev/PROJECT/recsys/pipeline:TAG (see docs/deploy.md)

# Dataflow starts custom worker containers through Beam's boot binary; it must match
# apache-beam in requirements/lock.txt.
FROM apache/beam_python3.11_sdk:2.77.0 AS beam-sdk

FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2

COPY --from=beam-sdk /opt/apache/beam /opt/apache/beam

# Dependencies first (the slow, rarely changing layer). The lock is installed as is, without
# the resolver: tfx 1.21's own pins cannot resolve on Linux (see scripts/setup.sh).
WORKDIR /opt/recsys/src
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --no-deps -r requirements/lock.txt \
    && pip install --no-deps setuptools==80.9.0

# The project, installed (not editable) so TFX finds transform.preprocessing.preprocessing_fn
# and trainer.task.run_fn by module path.
COPY pyproject.toml README.md LICENSE ./
COPY contract/ contract/
COPY components/ components/
COPY transform/ transform/
COPY trainer/ trainer/
COPY pipeline/ pipeline/
COPY recsys/ recsys/
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info \
    && useradd --create-home --uid 10001 --user-group recsys

# Not the source directory: imports must resolve to the installed packages.
WORKDIR /home/recsys
USER 10001:10001

# Vertex AI overrides the command (python -m tfx...kubeflow_v2_run_executor); Dataflow needs
# the boot entrypoint.
ENTRYPOINT ["/opt/apache/beam/boot"]

# The REST service and UI (`recsys serve`): in front of TF Serving in the cluster
# (k8s_serving/, `--tf-serving URL`), or on its own with the models loaded in process.
# Build: make serve-image SERVE_IMAGE=REGION-docker.pkg.dev/PROJECT/recsys/serve:TAG
# (the pipeline image is ./Dockerfile; both install requirements/lock.txt as it is).

FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# The same pins as the pipeline, installed without the resolver (see scripts/setup.sh): the
# service reads the SavedModels the pipeline wrote, with the same TensorFlow.
WORKDIR /opt/recsys/src
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --no-deps -r requirements/lock.txt \
    && pip install --no-deps setuptools==80.9.0

# The project, installed (not editable): `recsys` and the UI's static files.
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

WORKDIR /home/recsys
USER 10001:10001
EXPOSE 8000

# The process answers (Kubernetes probes /readyz and /healthz itself; this is for docker run).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["recsys"]
# Models and raw data mounted at /models and /data; k8s_serving/ adds --tf-serving.
CMD ["serve", "--host=0.0.0.0", "--port=8000", "--models-dir=/models", "--data-dir=/data"]

# Developer entry points; each is a thin wrapper around one documented command.
.PHONY: setup setup-benchmark system-tools serving-compat test test-fast serving-configs lint \
	image push-image serve-image push-serve-image

setup:  ## create .venv/ from the pinned lock file (idempotent)
	bash scripts/setup.sh

setup-benchmark: setup  ## add the optional peers of `recsys benchmark` (implicit, surprise)
	.venv/bin/python -m pip install -q --no-deps --only-binary=:all: -r requirements/benchmark.txt

system-tools:  ## Debian packages the tests use (chromium, chromium-driver, wrk)
	bash scripts/install-system-tools.sh

serving-compat:  ## the serving image's TensorFlow in its own virtualenv (the compatibility test)
	bash scripts/serving-compat-venv.sh

# One worker per core, at most 4 (each holds a TensorFlow); a module's tests stay together, and
# so do the tests on the shared run of all models (tests/conftest.py).
PARALLEL = -n auto --maxprocesses 4 --dist loadscope

test:  ## the full test suite, as CI runs it
	.venv/bin/python -m pytest $(PARALLEL)

test-fast:  ## everything but the end-to-end pipeline runs
	.venv/bin/python -m pytest $(PARALLEL) -m "not e2e"

# TF Serving's model list of each Kubernetes target, from the model catalogue.
serving-configs:  ## regenerate k8s_serving/*/models.config (after adding a model)
	.venv/bin/recsys serving-config --base-path gs://my-models-bucket/recsys/serving \
	    --output k8s_serving/base/models.config
	.venv/bin/recsys serving-config --base-path gs://recsys-dev-models/recsys/serving \
	    --output k8s_serving/overlays/dev/models.config
	.venv/bin/recsys serving-config --base-path gs://recsys-prod-models/recsys/serving \
	    --output k8s_serving/overlays/prod/models.config

lint:  ## ruff, and the layer contract in pyproject.toml (import-linter)
	.venv/bin/ruff check .
	.venv/bin/lint-imports

# The pipeline image, e.g. make image IMAGE=us-central1-docker.pkg.dev/PROJECT/recsys/pipeline:0.1.0
IMAGE ?= recsys-pipeline:dev

image:  ## build the pipeline image (Dockerfile)
	docker build -t $(IMAGE) .

push-image: image  ## push it; IMAGE must name a registry you can write to
	docker push $(IMAGE)

# The REST service's image, e.g. make serve-image SERVE_IMAGE=us-central1-docker.pkg.dev/PROJECT/recsys/serve:0.1.0
SERVE_IMAGE ?= recsys-serve:dev

serve-image:  ## build the REST service's image (serving.Dockerfile)
	docker build -f serving.Dockerfile -t $(SERVE_IMAGE) .

push-serve-image: serve-image  ## push it; SERVE_IMAGE must name a registry you can write to
	docker push $(SERVE_IMAGE)

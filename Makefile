# Developer entry points; each is a thin wrapper around one documented command.
.PHONY: setup setup-benchmark test test-fast lint image push-image

setup:  ## create .venv/ from the pinned lock file (idempotent)
	bash scripts/setup.sh

setup-benchmark: setup  ## add the optional peers of `recsys benchmark` (implicit, surprise)
	.venv/bin/python -m pip install -q --no-deps --only-binary=:all: -r requirements/benchmark.txt

test:  ## the full test suite, as CI runs it
	.venv/bin/python -m pytest

test-fast:  ## everything but the end-to-end pipeline runs
	.venv/bin/python -m pytest -m "not e2e"

lint:
	.venv/bin/ruff check .

# The pipeline image, e.g. make image IMAGE=us-central1-docker.pkg.dev/PROJECT/recsys/pipeline:0.1.0
IMAGE ?= recsys-pipeline:dev

image:  ## build the pipeline image (Dockerfile)
	docker build -t $(IMAGE) .

push-image: image  ## push it; IMAGE must name a registry you can write to
	docker push $(IMAGE)

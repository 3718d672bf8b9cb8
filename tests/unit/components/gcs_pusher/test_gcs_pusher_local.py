"""GcsPusher executor with a local destination: staged under .staging-<version>, then renamed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from components.gcs_pusher import executor
from components.gcs_pusher.executor import (
    EMBEDDINGS_FILE,
    SOURCE_FILE,
    Executor,
    PushError,
)
from contract.keys import WARMUP_FILE
from tests.unit.components.gcs_pusher.helpers import EMBEDDINGS, MOVIES, PushRun


def _push(make_run, dest: Path, blessed: bool = True):
    run = make_run(str(dest), blessed)
    Executor().Do(run.input_dict, run.output_dict, run.exec_properties)
    return run


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_push_stages_then_renames_into_tf_serving_layout(
        tmp_path, make_run, model_files, monkeypatch):
    dest = tmp_path / "serving" / "mf"
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename(src, dst):
        renames.append((src, dst))
        real_rename(src, dst)

    monkeypatch.setattr(executor.os, "rename", rename)
    before = int(time.time())
    run = _push(make_run, dest)

    version = run.version
    assert int(version) >= before
    assert renames == [(str(dest / f".staging-{version}"), str(dest / version))]
    assert os.listdir(dest) == [version]
    assert _files(dest / version) == model_files | {EMBEDDINGS_FILE, SOURCE_FILE}
    assert WARMUP_FILE in model_files  # TF Serving replays it when it loads the version
    npz = np.load(dest / version / EMBEDDINGS_FILE)
    assert npz["movie_ids"].tolist() == MOVIES
    np.testing.assert_array_equal(npz["embeddings"], EMBEDDINGS[:len(MOVIES)])
    assert run.pushed.get_int_custom_property("pushed") == 1
    assert run.pushed.get_string_custom_property("pushed_destination") == str(dest / version)


def test_versions_strictly_increase(tmp_path, make_run):
    dest = tmp_path / "mf"
    first = _push(make_run, dest).version
    second = _push(make_run, dest).version
    future = int(time.time()) + 1000
    (dest / str(future)).mkdir()
    third = _push(make_run, dest).version
    assert int(first) < int(second) and int(third) == future + 1
    assert os.listdir(dest / str(future)) == []  # an existing version is never written to


def test_unblessed_model_is_not_pushed(tmp_path, make_run):
    dest = tmp_path / "mf"
    version = _push(make_run, dest).version
    run = _push(make_run, dest, blessed=False)
    assert run.pushed.get_int_custom_property("pushed") == 0
    assert os.listdir(dest) == [version]


def test_a_model_the_infra_check_refused_is_not_pushed(tmp_path, make_run):
    from tfx.types import standard_artifacts, standard_component_specs

    dest = tmp_path / "mf"
    run = make_run(str(dest))
    infra = standard_artifacts.InfraBlessing()
    infra.set_int_custom_property("blessed", 0)
    run.input_dict[standard_component_specs.INFRA_BLESSING_KEY] = [infra]
    Executor().Do(run.input_dict, run.output_dict, run.exec_properties)
    assert run.pushed.get_int_custom_property("pushed") == 0
    assert not dest.exists()


def test_a_model_without_warmup_requests_is_refused(tmp_path, model_uri):
    bare = tmp_path / "model"
    shutil.copytree(model_uri, bare)
    (bare / "Format-Serving" / WARMUP_FILE).unlink()
    dest = tmp_path / "mf"
    run = PushRun(str(bare), True, str(dest), tmp_path)
    with pytest.raises(PushError, match="tf_serving_warmup_requests"):
        Executor().Do(run.input_dict, run.output_dict, run.exec_properties)
    assert not dest.exists()


def test_interrupted_copy_leaves_no_partial_version(tmp_path, make_run, monkeypatch):
    dest = tmp_path / "mf"
    previous = _push(make_run, dest).version
    previous_files = _files(dest / previous)
    copies: list[str] = []
    real_copyfile = executor.shutil.copyfile

    def copyfile(src, dst):
        copies.append(dst)
        if len(copies) == 3:
            raise OSError("disk full")
        return real_copyfile(src, dst)

    monkeypatch.setattr(executor.shutil, "copyfile", copyfile)
    with pytest.raises(PushError, match="disk full"):
        _push(make_run, dest)

    assert len(copies) == 3
    assert os.listdir(dest) == [previous]  # neither the new version nor its staging dir
    assert _files(dest / previous) == previous_files


def test_other_schemes_are_refused(make_run):
    run = make_run("s3://bucket/mf")
    with pytest.raises(ValueError, match="s3://bucket/mf"):
        Executor().Do(run.input_dict, run.output_dict, run.exec_properties)

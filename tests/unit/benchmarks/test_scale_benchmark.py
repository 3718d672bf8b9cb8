"""`recsys bench-scale`'s parts without a pipeline run: shapes, sampler, scaling, table."""

from __future__ import annotations

import builtins
import subprocess
import sys

import pytest

from benchmarks import scale
from recsys import cli
from recsys.data import synth


@pytest.mark.parametrize(("ratings", "users", "movies"), [
    (1_000_209, 6_040, 3_706),  # ML-1M
    (25_000_095, 162_541, 62_423),  # ML-25M
])
def test_shapes_follow_the_movielens_releases(ratings, users, movies) -> None:
    assert scale.scaled_shape(ratings) == (users, movies)


@pytest.mark.parametrize("ratings", [100, 3_000, 5_000_000, 10**8])
def test_every_size_gets_a_valid_shape(ratings) -> None:
    users, movies = scale.scaled_shape(ratings)
    synth.validate(users, movies, ratings, scale.MIN_RATINGS_PER_USER)


def test_sizes_parse_sorted_and_bad_ones_fail() -> None:
    assert scale.parse_sizes("5000000, 1000000,1000000") == [1_000_000, 5_000_000]
    for text in ("", "1e6", "0,10"):
        with pytest.raises(ValueError):
            scale.parse_sizes(text)


@pytest.mark.parametrize(("flags", "message"), [
    (["--sizes", "many"], "--sizes: 'many' is not a comma-separated list"),
    (["--models", "retrieval,nope"], "--models: unknown model 'nope'"),
    (["--beam-workers", "0"], "--beam-workers must be at least 1"),
    (["--hparam", "retrieval.no_such_key=1"], "--hparam: "),
])
def test_bad_arguments_fail_before_any_work(tmp_path, capsys, flags, message) -> None:
    status = cli.main(["bench-scale", "--work-dir", str(tmp_path / "work"),
                       "--output", str(tmp_path / "scale.json"), *flags])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "work").exists() and not (tmp_path / "scale.json").exists()


def test_sampler_sums_the_whole_process_tree() -> None:
    child = ("import time; block = bytearray(200 * 2**20); block[::4096] = b'x' * len("
             "block[::4096]); time.sleep(2)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; "
                               f"subprocess.run([sys.executable, '-c', {child!r}])"])
    with scale.TreeMemorySampler(parent.pid, interval=0.1) as sampler:
        parent.wait()
    assert sampler.peak() >= 200 * 2**20
    assert max(n for _, _, n in sampler.samples) == 2
    first, last = sampler.samples[0][0], sampler.samples[-1][0]
    assert sampler.peak(last + 10, last + 20) is None and sampler.peak(first, first) > 0


def _entry(ratings: int, seconds: float) -> dict:
    return {"ratings": ratings, "users": 10, "movies": 10, "synth_seconds": 1.0,
            "pipeline_seconds": seconds, "peak_rss_mb": 900.0, "max_processes": 3,
            "components": {"MovieLensExampleGen": {
                "state": "COMPLETE", "seconds": seconds / 2, "examples": ratings,
                "examples_per_second": round(2 * ratings / seconds), "peak_rss_mb": 800.0}}}


def test_scaling_is_against_the_smallest_size_and_flags_superlinear_growth() -> None:
    sizes = {"1000": _entry(1000, 100.0), "4000": _entry(4000, 300.0),
             "8000": _entry(8000, 900.0),
             "16000": {**_entry(16000, 50.0), "error": "recsys run exited with status 1"}}
    scale.add_scaling(sizes)
    assert (sizes["1000"]["time_ratio"], sizes["1000"]["at_most_linear"]) == (1.0, True)
    assert (sizes["4000"]["size_ratio"], sizes["4000"]["time_ratio"]) == (4.0, 3.0)
    assert sizes["4000"]["at_most_linear"] and not sizes["8000"]["at_most_linear"]
    assert "time_ratio" not in sizes["16000"]
    table = scale.format_table({"sizes": sizes, "ann": {"skipped": "--skip-ann"}})
    worse = [line.split()[0] for line in table.splitlines() if "WORSE THAN LINEAR" in line]
    assert worse == ["8,000"]
    assert [line.split()[1] for line in table.splitlines() if line.split()[0] == "16,000"] == [
        "MovieLensExampleGen", "recsys"]  # the figures of what ran, then the error
    assert table.splitlines()[-1] == "ann: --skip-ann"


def test_ann_section_says_why_it_is_missing(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_ann(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "benchmarks" and "ann" in (fromlist or ()):
            raise ImportError("cannot import name 'ann'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_ann)
    assert "benchmarks/ann.py is not available" in scale.ann_section()["skipped"]


def test_table_ends_with_the_ann_figures_when_they_ran() -> None:
    timing = {"p50_ms": 0.2, "p95_ms": 0.3, "p99_ms": 0.4, "cpu_p99_ms": 0.4}
    ann_results = {"setup": {"k": 10}, "results": [
        {"candidates": 1_000_000, "index": {"nlist": 2000, "nprobe": 16}, "build_s": 6.5,
         "ann": timing, "brute_force": {**timing, "p99_ms": 27.7}, "recall_at_k": 0.991}]}
    sizes = {"1000": _entry(1000, 100.0)}
    scale.add_scaling(sizes)
    table = scale.format_table({"sizes": sizes, "ann": ann_results})
    last = table.splitlines()[-1]
    assert last.startswith("| 1,000,000 | IVF2000 nprobe 16 |") and last.endswith("| 0.991 |")

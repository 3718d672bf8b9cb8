"""Every `recsys: error:` line of docs/operating.md and the README is what the command prints.

Each documented line is reproduced from the input it describes: argument errors by `recsys
run` itself (they stop before any work), data errors by the checks `recsys run` makes before
any work (`formats.check_input`, for a plain directory) and then the ExampleGen step, its
driver (which resolves the span of a spans directory) and its executor, run in this process on
Beam's DirectRunner as the pipeline step runs them, its failure read as the command reads it
(`user_error_message`). The lines only a pipeline or a training run can produce are checked
where those run (E2E_CHECKED).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components.movielens_example_gen import formats
from recsys import cli
from recsys.cli import common
from tests.fixtures.documented import OPERATING, README, as_documented, documented_errors, matches
from tests.fixtures.example_gen_run import run_example_gen
from tests.fixtures.movielens_files import write_ml100k, write_ml100k_spans

# Documented line -> the test that reproduces it.
E2E_CHECKED = {
    "data validation failed: ": "tests/e2e/test_data_gate.py",
    "data drift since the previous run: ": "tests/e2e/test_data_gate.py",
    "data drift in span ": "tests/e2e/test_continuous.py",
    "span 9 was never accepted by the data gate ":
        "tests/unit/components/data_gate/test_span_checks.py",
    "mf: training diverged: ": "tests/unit/trainer/test_task.py",
}
RATINGS_HEADER = "userId,movieId,rating,timestamp"
MOVIES = ["movieId,title,genres", "1,Toy Story (1995),Adventure|Animation",
          "2,Heat (1995),Action|Crime|Thriller", "3,Casino (1995),Crime|Drama"]
RATINGS = ["1,1,4.0,964982703", "1,2,3.5,964981247", "2,1,5.0,964983815"]


# -- inputs ----------------------------------------------------------------------------------
def _ml_latest(root: Path, ratings: list[str] | None = None, movies: list[str] | None = None,
               header: str = RATINGS_HEADER) -> Path:
    directory = root / "ml-latest"
    directory.mkdir(parents=True, exist_ok=True)
    # "\udcXX" (surrogateescape) writes the raw byte XX: invalid UTF-8 where a test wants it.
    (directory / "movies.csv").write_text("\n".join(movies or MOVIES) + "\n",
                                          errors="surrogateescape")
    rows = [header] if header else []
    (directory / "ratings.csv").write_text("\n".join(rows + (ratings or RATINGS)) + "\n")
    return directory


def _ml100k(root: Path, line: int | None = None, field: int = 0, value: str = "",
            users: int = 30, movies: int = 60, ratings_per_user: int = 10) -> Path:
    """ML-100K data; with `line`, that line's `field` (0 user .. 3 timestamp) set to `value`."""
    directory = write_ml100k(root / "ml-100k", users=users, movies=movies,
                             ratings_per_user=ratings_per_user)
    if line is not None:
        lines = (directory / "u.data").read_text().splitlines()
        fields = lines[line - 1].split("\t")
        fields[field] = value
        lines[line - 1] = "\t".join(fields)
        (directory / "u.data").write_text("\n".join(lines) + "\n")
    return directory


def _repeated_rating(root: Path) -> Path:
    """Line 1's (user, movie) rated again, later, on the last line (301)."""
    directory = _ml100k(root)
    first = (directory / "u.data").read_text().splitlines()[0].split("\t")
    with open(directory / "u.data", "a") as handle:
        handle.write("\t".join([*first[:2], "3", "880099999"]) + "\n")
    return directory


def _presplit_eval_repeats_train(root: Path) -> Path:
    """u1.test holds only older ratings of (user, movie) pairs in u1.base: all are dropped."""
    directory = _ml100k(root, users=3, movies=6, ratings_per_user=4)
    lines = (directory / "u.data").read_text().splitlines()
    (directory / "u1.base").write_text("\n".join(lines) + "\n")
    older = ["\t".join([*line.split("\t")[:3], "880000000"]) for line in lines[:3]]
    (directory / "u1.test").write_text("\n".join(older) + "\n")
    return directory


def _too_many_bad_rows(root: Path) -> Path:
    """20 ratings + 6 movies + 4 users + 2 bad rows = 32 rows, in `root` itself."""
    directory = write_ml100k(root, users=4, movies=6, ratings_per_user=5)
    with open(directory / "u.data", "a") as handle:
        handle.write("1\t2\tfive\t880000000\n9\t2\t4\t880000000\n")
    return directory


def _with_file(name: str, content: str = "", parent: str = "x") -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        directory = root / parent
        directory.mkdir(parents=True, exist_ok=True)
        for file_name in name.split(","):
            (directory / file_name).write_text(content)
        return directory
    return make


def _ratings_dir_instead_of_file(root: Path) -> Path:
    directory = _ml_latest(root)
    os.remove(directory / "ratings.csv")
    (directory / "ratings.csv").mkdir()
    return directory


def _ratings_symlink_loop(root: Path) -> Path:
    directory = _ml_latest(root)
    os.remove(directory / "ratings.csv")
    os.symlink("ratings.csv", directory / "ratings.csv")
    return directory


def _without_users_file(root: Path) -> Path:
    directory = _ml100k(root, users=3, movies=6, ratings_per_user=4)
    os.remove(directory / "u.user")
    return directory


def _spans(root: Path, first: int = 1, count: int = 2) -> Path:
    """Complete ML-100K spans span-`first` ... under root/spans, movies and users at its root."""
    return write_ml100k_spans(root / "spans", spans=count, first=first, users=4, movies=6,
                              ratings_per_user=4)


def _spans_without_markers(root: Path) -> Path:
    directory = _spans(root)
    for marker in directory.glob("span-*/_SUCCESS"):
        marker.unlink()
    return directory


def _span_being_copied(root: Path) -> Path:
    """Spans 4 and 5, and span 6's ratings without its marker yet."""
    directory = _spans(root, first=4)
    (directory / "span-6").mkdir()
    shutil.copy(directory / "span-5" / "u.data", directory / "span-6" / "u.data")
    return directory


def _span_copied_as(name: str) -> Callable[[Path], Path]:
    """Spans 6 and 7, and span 7 copied (marker included) to `name` beside them."""
    def make(root: Path) -> Path:
        directory = _spans(root, first=6)
        shutil.copytree(directory / "span-7", directory / name)
        return directory
    return make


def _ml_latest_span_before_ml100k_span(root: Path) -> Path:
    directory = _spans(root, first=8)
    os.remove(directory / "span-8" / "u.data")
    (directory / "span-8" / "ratings.csv").write_text("\n".join([RATINGS_HEADER, *RATINGS]))
    return directory


def _spans_without_users_file(root: Path) -> Path:
    directory = _spans(root)
    os.remove(directory / "u.user")
    return directory


# -- what the command prints -------------------------------------------------------------
Reproduce = Callable[[Path], str]


def example_gen(make_data: Callable[[Path], Path], **component_args) -> Reproduce:
    """The message `recsys run` prints for the data `make_data` writes: its checks before any
    work, then the ExampleGen step."""

    def reproduce(root: Path) -> str:
        data_dir = make_data(root)
        files = tuple(component_args.get(key) for key in ("train_file", "eval_file")
                      if component_args.get(key))
        examples = root / "pipeline_root" / "MovieLensExampleGen" / "examples" / "1"
        try:
            if component_args.get("window") is None:  # spans: checked by the driver
                formats.check_input(str(data_dir), files)
            run_example_gen(data_dir, examples, **component_args)
        except Exception as error:  # noqa: BLE001 - read as the command reads any failure
            message = common.user_error_message(error)
            assert message is not None, f"not a one-line user error: {error!r}"
            return message
        raise AssertionError("the ExampleGen accepted the data")

    return reproduce


def command(*args: str, output_dir: str | None = None,
            make_data: Callable[[Path], Path] | None = None) -> Reproduce:
    """The message `recsys run ARGS` prints (its arguments are refused before any work), on
    the data `make_data` writes (default: an empty directory)."""

    def reproduce(root: Path) -> str:
        data_dir = make_data(root) if make_data else root
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = cli.main(["run", "--data-dir", str(data_dir), "--output-dir",
                               output_dir or str(root / "out"), *args])
        assert status == 2
        line = stderr.getvalue().strip()
        assert line.startswith("recsys: error: ") and "\n" not in line, line
        return line.removeprefix("recsys: error: ")

    return reproduce


NO_HEADER = (f"no header: the first line must name the columns {RATINGS_HEADER} (in any "
             "order)")
WINDOW = "(see --min-rating-date, --max-rating-date)"
CASES: dict[str, Reproduce] = {
    # The directory and its files.
    "/data/x: no such directory": example_gen(lambda root: root / "x"),
    "/data/x: unknown MovieLens format: expected one of u.data (ml-100k), ratings.dat (ml-1m), "
    "ratings.csv (ml-latest)": example_gen(_with_file("ratings.txt", "1 2 3 4\n")),
    "/data/x: holds two MovieLens layouts, u.data (ml-100k) and ratings.csv (ml-latest); keep "
    "one dataset per directory": example_gen(_with_file("u.data,ratings.csv")),
    "/data/ml-100k/u.user: missing: a ml-100k dataset needs it beside u.data":
        example_gen(_without_users_file),
    "/data/ml-latest/ratings.csv: is a directory, not a file":
        example_gen(_ratings_dir_instead_of_file),
    "/data/ml-latest/ratings.csv: cannot read: Too many levels of symbolic links":
        example_gen(_ratings_symlink_loop),
    "/data/ml-latest/ratings.csv: file has no data rows":
        example_gen(lambda root: _ml_latest(root, ratings=[""])),
    # CSV headers.
    f"/data/ml-latest/ratings.csv:1: {NO_HEADER}, got '1,1,4.0,964982703'":
        example_gen(lambda root: _ml_latest(root, header="")),
    f"/data/ml-latest/ratings.csv:1: unknown column 'stars' in the header; expected "
    f"{RATINGS_HEADER} (in any order)":
        example_gen(lambda root: _ml_latest(root, header="userId,movieId,stars,timestamp")),
    f"/data/ml-latest/ratings.csv:1: the header has no 'timestamp' column; expected "
    f"{RATINGS_HEADER} (in any order)":
        example_gen(lambda root: _ml_latest(root, header="userId,movieId,rating")),
    "/data/ml-latest/movies.csv:1: column 'title' appears twice in the header":
        example_gen(lambda root: _ml_latest(root, movies=["movieId,title,title", *MOVIES[1:]])),
    # Rows.
    "/data/ml-100k/u.data:51: rating 'abc' is not a number":
        example_gen(lambda root: _ml100k(root, 51, 2, "abc")),
    "/data/ml-latest/ratings.csv:7: expected 4 fields (user, movie, rating, timestamp), got 3: "
    "'2,2,4.0'": example_gen(lambda root: _ml_latest(root, [*RATINGS, *RATINGS[:2], "2,2,4.0"])),
    "/data/ml-latest/ratings.csv:5: rating 6.0 is outside 0.5-5.0":
        example_gen(lambda root: _ml_latest(root, [*RATINGS, "2,2,6.0,964983815"])),
    "/data/ml-100k/u.data:3: user id 'x' is not a positive integer":
        example_gen(lambda root: _ml100k(root, 3, 0, "x", 2, 5, 2)),
    "/data/ml-latest/ratings.csv:5: movie id '99' is not in movies.csv":
        example_gen(lambda root: _ml_latest(root, [*RATINGS, "2,99,4.0,964983815"])),
    "/data/ml-100k/u.data:2: user id '3' is not in u.user":
        example_gen(lambda root: _ml100k(root, 2, 0, "3", 2, 5, 2)),
    "/data/ml-latest/movies.csv:4: duplicate movie id '2'":
        example_gen(lambda root: _ml_latest(root, movies=[*MOVIES[:3], "2,Heat Again,Drama"])),
    "/data/ml-latest/movies.csv:3: malformed CSV: a quoted field is never closed":
        example_gen(lambda root: _ml_latest(root, movies=[
            *MOVIES[:2], '2,"Heat (1995),Action', MOVIES[3]])),
    "/data/ml-latest/movies.csv:4: not valid utf-8 text (invalid continuation byte at byte 5)":
        example_gen(lambda root: _ml_latest(root, movies=[*MOVIES[:3], "3,Caf\udce9 (1999),"])),
    "/data/ml-latest/ratings.csv:5: line longer than 65536 bytes":
        example_gen(lambda root: _ml_latest(root, [*RATINGS, "2,2,4.0," + "9" * 70000])),
    # Timestamps.
    "/data/ml-100k/u.data:11: timestamp 'soon' is not an integer":
        example_gen(lambda root: _ml100k(root, 11, 3, "soon")),
    "/data/ml-100k/u.data:11: timestamp 99999999999999999999 does not fit in 64 bits":
        example_gen(lambda root: _ml100k(root, 11, 3, "99999999999999999999")),
    f"/data/ml-100k/u.data:11: timestamp 10000000000000 is outside 1995-01-01..<the day after "
    f"the run> {WINDOW}": example_gen(lambda root: _ml100k(root, 11, 3, "10000000000000")),
    # Repeated ratings.
    "/data/ml-100k/u.data:301: user '10' rated movie '11' again (also on line 1); "
    "--duplicate-ratings keep-latest keeps the latest":
        example_gen(_repeated_rating, duplicate_ratings="error"),
    # Splits.
    "--train-file and --eval-file are the same file (u1.base); the eval file must hold other "
    "ratings": command("--protocol", "presplit", "--train-file", "u1.base", "--eval-file",
                       "u1.base"),
    "/data/ml-100k/u1.test: no eval rows are left (every row was rejected or repeats a rating)":
        example_gen(_presplit_eval_repeats_train, protocol="presplit", train_file="u1.base",
                    eval_file="u1.test"),
    "/data/ml-100k: the train split is empty: every user has a single rating, and protocol "
    "topk holds each user's last rating out":
        example_gen(lambda root: _ml100k(root, users=3, movies=6, ratings_per_user=1)),
    # Quarantine.
    "<pipeline_root>/MovieLensExampleGen/examples/<id>/quarantine/rows.jsonl: 2 of 32 rows "
    "(6.25%) were rejected, more than --max-bad-row-fraction 1.00%; first: /data/u.data:21: "
    "rating 'five' is not a number": example_gen(_too_many_bad_rows, quarantine_bad_rows=True),
    # Spans.
    "/data/spans: no complete span: expected span-<number>/ directories with a _SUCCESS marker":
        example_gen(_spans_without_markers, window=2),
    "/data/spans/span-6: span 6 is not complete (no _SUCCESS marker)":
        example_gen(_span_being_copied, window=2, span=6),
    "/data/spans/span-7b: not a span directory name: expected span-<number>":
        example_gen(_span_copied_as("span-7b"), window=2),
    "/data/spans/span-7: span 7 is also /data/spans/span-07: one directory per span":
        example_gen(_span_copied_as("span-07"), window=2),
    "/data/spans/span-8: a ml-latest span among ml-100k spans: every span has the same layout":
        example_gen(_ml_latest_span_before_ml100k_span, window=2),
    "/data/spans/u.user: missing: ml-100k spans need it in the data directory or in a span "
    "directory": example_gen(_spans_without_users_file, window=2),
    "/data/spans holds spans (span-1, span-2, span-3, ...): give --window N to train on the "
    "latest N (0: all)": command(make_data=lambda root: _spans(root, count=4)),
    # Arguments.
    "--max-bad-row-fraction must be between 0 and 1, got 2.0":
        command("--max-bad-row-fraction", "2"),
    "--drift-threshold must be between 0 and 1, got 5.0": command("--drift-threshold", "5"),
    "--models: unknown model 'x'; choose from ...": command("--models", "x"),
    "--hparam: ...": command("--hparam", "mf.no_such=1"),
    "--hparam: invalid mf hyper-parameters {'learning_rate': 'inf'}: learning_rate must be a "
    "finite number, got inf": command("--hparam", "mf.learning_rate=inf"),
    "--min-hit-rate: 0.0 is outside (0, 1]: a floor of 0 would bless a model that never hits":
        command("--min-hit-rate", "mf=0"),
    "--min-eval-examples must be at least 1, got 0": command("--min-eval-examples", "0"),
    "--min-rating-date: '1995-13-01' is not a date (YYYY-MM-DD)":
        command("--min-rating-date", "1995-13-01"),
    "--max-rating-date 1990-01-01 is before --min-rating-date 1995-01-01":
        command("--max-rating-date", "1990-01-01"),
    "--output-dir /proc/x: cannot create or write to it: No such file or directory":
        command(output_dir="/proc/x"),
}


def _covered(line: str) -> bool:
    return line in CASES or any(line.startswith(prefix) for prefix in E2E_CHECKED)


def test_every_documented_error_is_reproduced_here_or_in_a_named_test():
    documented = documented_errors(OPERATING) + documented_errors(README)
    assert [line for line in documented if not _covered(line)] == []
    assert [line for line in CASES if line not in documented] == []  # no stale case


@pytest.mark.parametrize("documented", sorted(CASES))
def test_the_command_prints_the_documented_line(documented, tmp_path):
    printed = as_documented(CASES[documented](tmp_path), tmp_path)
    assert matches(printed, documented), f"\nprinted:    {printed}\ndocumented: {documented}"


def test_the_readme_example_is_a_documented_data_error():
    (line,) = documented_errors(README)
    assert line in documented_errors(OPERATING)

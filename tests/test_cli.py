"""Argument checking of `recsys run`: bad options are one-line errors before any work starts."""

import pytest

from recsys import cli, datasets


@pytest.mark.parametrize("args, message", [
    (["--models", "mf,deep"], "--models: unknown ['deep']"),
    (["--models", ","], "--models: unknown empty list"),
    (["--hparam", "mf.no_such=1"], "--hparam: "),
    (["--hparam", "mf.epochs=many"], "--hparam: "),
    (["--hparam", "epochs=3"], "--hparam: expected MODEL.KEY=VALUE"),
    (["--protocol", "presplit"], "--train-file and --eval-file go together"),
    (["--train-file", "u1.base", "--eval-file", "u1.test"], "go together with --protocol presplit"),
    (["--beam-workers", "0"], "--beam-workers must be at least 1"),
    (["--models", "mf", "--min-hit-rate", "retrieval=0.1"], "'retrieval' is not one of the models"),
    (["--min-hit-rate", "mf=high"], "--min-hit-rate: 'high' is not a number"),
    (["--min-hit-rate", "mf=1.5"], "--min-hit-rate: 1.5 is outside 0..1"),
    (["--push-to", "s3://bucket/models"], "only gs:// URLs and local paths are supported"),
    (["--push-to", "gs://"], "gs:// needs a bucket"),
])
def test_bad_options_are_rejected_with_one_line(tmp_path, capsys, args, message):
    status = cli.main(["run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path), *args])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert error.startswith("recsys: error: ") and message in error and "\n" not in error


def test_unknown_dataset_name_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--dataset", "ml-5"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'ml-5'" in capsys.readouterr().err


def test_offline_download_says_what_to_do(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(datasets.DownloadError, match="Offline\\? Download and unzip it"):
        datasets.fetch("ml-100k", cache_dir=tmp_path)
    assert not (tmp_path / "ml-100k").exists()


def test_download_with_wrong_checksum_leaves_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.urllib.request, "urlopen",
                        lambda url, timeout: _Response(b"not the archive"))
    with pytest.raises(datasets.DownloadError, match="does not match the published"):
        datasets.fetch("ml-100k", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_unpacks_a_verified_archive_once(tmp_path, monkeypatch):
    import hashlib
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("ml-100k/u.data", "1\t1\t5\t1\n")
    archive = buffer.getvalue()
    monkeypatch.setitem(datasets.PUBLISHED_MD5, "ml-100k", hashlib.md5(archive).hexdigest())
    calls = []

    def serve(url, timeout):
        calls.append(url)
        return _Response(archive)

    monkeypatch.setattr(datasets.urllib.request, "urlopen", serve)
    first = datasets.fetch("ml-100k", cache_dir=tmp_path)
    assert (first / "u.data").read_text() == "1\t1\t5\t1\n"
    assert datasets.fetch("ml-100k", cache_dir=tmp_path) == first
    assert calls == [f"{datasets.BASE_URL}/ml-100k.zip"]


class _Response:
    def __init__(self, body):
        self.body = body

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.body


def test_cli_model_names_are_the_registry_models():
    from trainer.models.registry import MODEL_NAMES

    assert cli.MODEL_NAMES == MODEL_NAMES

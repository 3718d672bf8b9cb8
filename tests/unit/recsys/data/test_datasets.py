"""GroupLens downloads: checksum verified, cached once, a clear error offline."""

import pytest

from recsys.data import datasets


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

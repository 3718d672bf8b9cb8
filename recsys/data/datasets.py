"""Downloads a GroupLens MovieLens release into a local cache, verifying its checksum.

The data is never committed: research use only, no redistribution (see each release's README).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

BASE_URL = "https://files.grouplens.org/datasets/movielens"
# MD5 sums GroupLens publishes beside each archive (<name>.zip.md5). ml-latest-small is
# refreshed from time to time, so its sum is fetched from GroupLens at download time.
PUBLISHED_MD5 = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-latest-small": None,
}
DATASETS = tuple(PUBLISHED_MD5)
TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """The dataset could not be fetched or failed verification."""


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(root) / "recsys-tfx" / "movielens"


def fetch(name: str, cache_dir: Path | None = None) -> Path:
    """The directory holding the unpacked release `name`, downloading it on first use."""
    if name not in PUBLISHED_MD5:
        raise DownloadError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / name
    if (target / ".verified").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    url = f"{BASE_URL}/{name}.zip"
    expected = PUBLISHED_MD5[name] or _read_url(url + ".md5").decode().split()[0]
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        archive.write_bytes(_read_url(url))
        actual = hashlib.md5(archive.read_bytes()).hexdigest()
        if actual != expected:
            raise DownloadError(f"{url}: MD5 {actual} does not match the published {expected}")
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(tmp)
        unpacked = Path(tmp) / name
        (unpacked / ".verified").write_text(expected + "\n")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)  # atomic: a crash never leaves a half-unpacked cache entry
    return target


def _read_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DownloadError(
            f"cannot download {url} ({error}). Offline? Download and unzip it elsewhere and "
            f"pass --data-dir DIR instead") from None

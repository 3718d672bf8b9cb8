"""The models being served: the latest version of each under the models dir, hot-reloaded.

Layout (TF Serving's): DIR/<model>/<version>/saved_model.pb. A background thread polls DIR;
when a model gets a higher version (or, following TF Serving's version labels, the version
labelled `stable`: `labelled_versions`) it is loaded *beside* the current one and swapped in
with one reference assignment, so a request that already holds the old `LoadedModel` finishes
on it and no request ever sees a half-loaded model. A version directory is loaded only once
its file list and sizes were the same on two polls in a row (a pusher may still be copying).
Hooks given to `on_load` run on each new version before it is swapped in (to warm caches), so
no request waits for them. After a swap the heap is frozen (`_freeze_heap`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
import time
from collections.abc import Callable

from recsys.serving.backends import Backend

LOG = logging.getLogger(__name__)
Loader = Callable[[str, int, str], Backend]  # (model name, version, path) -> backend
Versions = Callable[[str], list[tuple[str, int, str]]]  # models dir -> (name, version, path)
STABLE = "stable"  # the version label the service follows in TF Serving (docs/deploy.md)


class SetupError(ValueError):
    """The service cannot start as asked (no models directory, no model versions)."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    path: str
    backend: Backend
    loaded_at: float


class ModelRegistry:
    def __init__(self, models_dir: str, loader: Loader, poll_seconds: float = 5.0,
                 settle_polls: int = 2, versions: Versions | None = None) -> None:
        self.models_dir = models_dir
        self._loader = loader
        self._versions = versions or latest_versions
        self._poll_seconds = poll_seconds
        self._settle_polls = settle_polls
        self._models: dict[str, LoadedModel] = {}  # replaced, never mutated: readers need no lock
        self._seen: dict[str, tuple[tuple, int]] = {}  # version path -> (fingerprint, polls)
        self._failed: set[tuple[str, tuple]] = set()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hooks: list[Callable[[LoadedModel], None]] = []

    # -- reading -----------------------------------------------------------------------------
    def get(self, name: str) -> LoadedModel | None:
        return self._models.get(name)

    def models(self) -> dict[str, LoadedModel]:
        return self._models

    # -- loading -----------------------------------------------------------------------------
    def on_load(self, hook: Callable[[LoadedModel], None]) -> None:
        """Runs `hook(model)` on every version loaded from now on, before it is served."""
        self._hooks.append(hook)

    def refresh(self, wait_for_settle: bool = True) -> list[str]:
        """Loads every model whose newest complete version is newer than the served one;
        returns "name/version" of what it swapped in."""
        swapped = []
        with self._write_lock:
            for name, version, path in self._candidates(wait_for_settle):
                try:
                    backend = self._loader(name, version, path)
                except Exception as error:  # noqa: BLE001 - keep serving the old version
                    LOG.warning("cannot load %s: %s", path, error)
                    self._failed.add((path, _fingerprint(path)))
                    continue
                loaded = LoadedModel(name, version, path, backend, time.time())
                for hook in self._hooks:
                    hook(loaded)
                models = dict(self._models)
                models[name] = loaded
                self._models = models  # the atomic swap
                swapped.append(f"{name}/{version}")
                LOG.info("serving %s version %d", name, version)
            if swapped:
                _freeze_heap()
        return swapped

    def _candidates(self, wait_for_settle: bool) -> list[tuple[str, int, str]]:
        found = []
        for name, version, path in self._versions(self.models_dir):
            current = self._models.get(name)
            if current is not None and current.version >= version:
                continue
            fingerprint = _fingerprint(path)
            if (path, fingerprint) in self._failed:
                continue
            previous, polls = self._seen.get(path, ((), 0))
            polls = polls + 1 if previous == fingerprint else 1
            self._seen[path] = (fingerprint, polls)
            if not wait_for_settle or polls >= self._settle_polls:
                found.append((name, version, path))
        return found

    def start(self) -> None:
        """Polls in a daemon thread until `stop()`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="model-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a poll must never kill the thread
                LOG.exception("model poll failed")


def _freeze_heap() -> None:
    """Moves what is alive now (the served models, the catalogue) out of the collector's sight.

    With TensorFlow and five SavedModels loaded, ~800k objects are tracked and one full
    collection takes ~0.4-0.8 s with the GIL held: every request in flight waited it out (the
    p99 of ~0.5 s at 32 clients). Frozen objects are never scanned again, so collections see
    only what requests allocate. Unfreezing first lets the versions just replaced go.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def latest_versions(models_dir: str) -> list[tuple[str, int, str]]:
    """(model, highest version with a saved_model.pb, its path) per model directory."""
    result = []
    if not os.path.isdir(models_dir):
        return result
    for name in sorted(os.listdir(models_dir)):
        model_dir = os.path.join(models_dir, name)
        if not os.path.isdir(model_dir):
            continue
        versions = [int(v) for v in os.listdir(model_dir) if v.isdigit()
                    and os.path.exists(os.path.join(model_dir, v, "saved_model.pb"))]
        if versions:
            latest = max(versions)
            result.append((name, latest, os.path.join(model_dir, str(latest))))
    return result


def version_labels(models_config: str) -> dict[str, dict[str, int]]:
    """model -> {label: version} from TF Serving's models.config (text ModelServerConfig)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        with open(models_config) as handle:
            config = text_format.Parse(handle.read(),
                                       model_server_config_pb2.ModelServerConfig())
    except (OSError, text_format.ParseError) as error:
        raise SetupError(f"TF Serving config {models_config}: {error}") from None
    return {entry.name: dict(entry.version_labels) for entry in config.model_config_list.config}


def label_for(labels: dict[str, int], wanted: str) -> str | None:
    """The label to ask TF Serving for: `wanted` if the model has it, else `stable`, else none
    (the model's latest version)."""
    return next((label for label in (wanted, STABLE) if label in labels), None)


def labelled_versions(labels: dict[str, dict[str, int]], wanted: str) -> Versions:
    """Per model, the version TF Serving serves under `label_for(...)`, else the latest one
    under the models dir: the version whose signatures this service reads and reports."""
    def versions(models_dir: str) -> list[tuple[str, int, str]]:
        found = []
        for name, latest, path in latest_versions(models_dir):
            label = label_for(labels.get(name, {}), wanted)
            if label is None:
                found.append((name, latest, path))
                continue
            version = labels[name][label]
            path = os.path.join(models_dir, name, str(version))
            if os.path.exists(os.path.join(path, "saved_model.pb")):
                found.append((name, version, path))
            else:
                LOG.warning("%s: version %d (label %s) is not under %s", name, version, label,
                            models_dir)
        return found

    return versions


def _fingerprint(path: str) -> tuple:
    entries = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                entries.append((os.path.relpath(full, path), os.path.getsize(full)))
            except OSError:
                continue
    return tuple(sorted(entries))

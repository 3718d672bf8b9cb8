"""Hot reload semantics with a fake loader: atomic swap, settle check, failed loads."""

import gc
import shutil

from recsys.serving.registry import ModelRegistry


class FakeBackend:
    signatures = frozenset({"recommend"})

    def __init__(self, path):
        self.path = path


def _version(root, model, version, payload=b"x"):
    path = root / model / str(version)
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(payload)
    return path


def test_newer_version_swaps_in_and_old_reference_keeps_working(tmp_path):
    _version(tmp_path, "hybrid", 1)
    registry = ModelRegistry(str(tmp_path), lambda n, v, p: FakeBackend(p))
    assert registry.refresh(wait_for_settle=False) == ["hybrid/1"]
    held = registry.get("hybrid")  # what an in-flight request holds
    _version(tmp_path, "hybrid", 2)
    assert registry.refresh() == []  # seen once: may still be copying
    assert registry.refresh() == ["hybrid/2"]
    assert registry.get("hybrid").version == 2
    assert held.version == 1 and held.backend.path.endswith("/1")
    assert registry.refresh() == []  # nothing newer


def test_version_still_growing_is_not_loaded(tmp_path):
    _version(tmp_path, "mf", 1)
    registry = ModelRegistry(str(tmp_path), lambda n, v, p: FakeBackend(p))
    registry.refresh(wait_for_settle=False)
    path = _version(tmp_path, "mf", 5)
    registry.refresh()
    (path / "variables.data").write_bytes(b"more")  # the copy goes on
    assert registry.refresh() == []
    assert registry.refresh() == ["mf/5"]


def test_a_version_that_fails_to_load_keeps_the_old_one(tmp_path):
    _version(tmp_path, "mf", 1)
    _version(tmp_path, "mf", 2, b"broken")

    def loader(name, version, path):
        if version == 2:
            raise ValueError("corrupt")
        return FakeBackend(path)

    registry = ModelRegistry(str(tmp_path), loader)
    shutil.rmtree(tmp_path / "mf" / "2")
    registry.refresh(wait_for_settle=False)
    _version(tmp_path, "mf", 2, b"broken")
    assert registry.refresh(wait_for_settle=False) == []
    assert registry.get("mf").version == 1


def test_load_hooks_run_before_the_swap_and_the_heap_is_frozen(tmp_path):
    _version(tmp_path, "hybrid", 1)
    registry = ModelRegistry(str(tmp_path), lambda n, v, p: FakeBackend(p))
    seen = []
    registry.on_load(lambda m: seen.append((m.version, registry.get("hybrid"))))
    registry.refresh(wait_for_settle=False)
    assert seen == [(1, None)]  # the hook ran while nothing was served yet
    assert gc.get_freeze_count() > 0
    _version(tmp_path, "hybrid", 2)
    registry.refresh(wait_for_settle=False)
    assert seen[1][0] == 2 and seen[1][1].version == 1  # still serving 1 during the hook
    gc.unfreeze()  # leave the test process as it was

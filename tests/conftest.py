from pathlib import Path

import numpy as np
import pytest

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and data folders, and no network."""
    monkeypatch.setenv("NASNET_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("NASNET_OFFLINE", "1")
    monkeypatch.delenv("NASNET_DATA", raising=False)


@pytest.fixture(autouse=True)
def _plugins_of_this_test_only(monkeypatch):
    """A --plugin module a test loads is not handed to the workers (or experiments) of later tests."""
    import nasnet.registry

    monkeypatch.setattr(nasnet.registry, "_LOADED_PLUGINS", [])


@pytest.fixture(scope="session")
def shared_cifar_path() -> Path:
    if not SHARED_CIFAR.is_file():
        pytest.skip(f"shared CIFAR-10 copy not found at {SHARED_CIFAR}")
    return SHARED_CIFAR


@pytest.fixture(scope="session")
def shared_cifar(shared_cifar_path, tmp_path_factory):
    """The shared CIFAR-10 copy, decoded once per test session."""
    from nasnet.data import load_image_folder

    cache = tmp_path_factory.mktemp("shared-cifar-cache")
    return load_image_folder(shared_cifar_path, cache_dir=cache)


def random_splits(count: int = 256, size: int = 16, classes: int = 4, seed: int = 0):
    """A tiny random dataset, for mechanics tests that need no learning."""
    from nasnet.data import DataSplits, ImageArray

    rng = np.random.default_rng(seed)

    def array(n):
        return ImageArray(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, classes, n))

    return DataSplits(
        array(count),
        array(count // 4),
        array(count // 4),
        tuple(str(c) for c in range(classes)),
        "random",
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
    )

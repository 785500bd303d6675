"""Shared fixtures: tiny suites written on the fly; a CUDA marker that skips without a GPU."""

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

TINY_SUITE = """\
name: tiny
version: 1
seeds: [0]
device: cpu
dataset: {name: shapes, image_size: 32, train_samples: 16, val_samples: 4}
train: {batch_size: 4, iterations: 2, lr: 0.01}
eval: {batch_size: 4}
models:
  - {arch: fcn, skip: [32, 8], width: 0.0625, batch_norm: true}
"""


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def fill_randomly(module):
    """Real random tensors for a module built on the meta device."""
    module = module.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in module.state_dict().values():
            t.copy_(torch.rand(t.shape, generator=gen) * 100 if t.is_floating_point() else torch.tensor(7))
    return module


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache; downloads fail as they would offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")

    def offline(url, *args, **kwargs):
        raise OSError(f"offline: cannot reach {url}")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def write_suite(tmp_path):
    """Write suite text to a file and return its path."""
    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


@pytest.fixture
def tiny_suite(write_suite) -> Path:
    return write_suite(TINY_SUITE)

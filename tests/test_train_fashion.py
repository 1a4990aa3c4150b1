"""Real data: the Fashion-MNIST reader, and a short t-ReX training run (small CNN + prototype
head fed by the EMA memory) on four Fashion-MNIST classes that must reach clearly-above-chance
test accuracy with prototype logits.

Needs the Debian package dataset-fashion-mnist (`make system-deps` installs it; `make test`
runs that first). Without it these tests fail with the install command, they do not skip.
"""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch
from torch import nn
from torchvision.datasets.mnist import read_image_file, read_label_file

import trex
from trex.data.fashion_mnist import DEFAULT_ROOT, load_fashion_mnist

CLASSES = [0, 1, 5, 8]  # T-shirt/top, Trouser, Sandal, Bag: chance is 25%


@pytest.mark.parametrize("split, prefix, n", [("train", "train", 60_000), ("test", "t10k", 10_000)])
def test_reader_matches_torchvision(tmp_path, split, prefix, n):
    images, labels = load_fashion_mnist(split)
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert torch.equal(torch.bincount(labels), torch.full((10,), n // 10))
    # torchvision's own idx parser, on decompressed copies, as the independent reference.
    for kind in ("images-idx3", "labels-idx1"):
        with gzip.open(f"{DEFAULT_ROOT}/{prefix}-{kind}-ubyte.gz") as src, open(tmp_path / kind, "wb") as dst:
            shutil.copyfileobj(src, dst)
    assert torch.equal(images, read_image_file(str(tmp_path / "images-idx3")))
    assert torch.equal(labels, read_label_file(str(tmp_path / "labels-idx1")))


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_fashion_mnist("val")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(b"\x00\x00\x08\x01" + (1).to_bytes(4, "big") * 3 + b"\x07")  # a labels file
    with pytest.raises(ValueError, match="magic 0x00000801, expected 0x00000803"):
        load_fashion_mnist("test", root=tmp_path)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(100))
    with pytest.raises(ValueError, match=r"header says \(2, 28, 28\) = 1568 bytes of data, the file holds 100"):
        load_fashion_mnist("test", root=tmp_path)


class SmallCNN(nn.Module):
    """28x28 (or smaller) grayscale -> 64-d features."""

    num_features = 64

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def subset(split: str, per_class: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_fashion_mnist(split)
    keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in CLASSES])
    x = images[keep].float().div(255).sub(0.2860).div(0.3530)[:, None]  # Fashion-MNIST mean/std
    y = torch.tensor([CLASSES.index(int(c)) for c in labels[keep]])
    return x, y


def multi_crop(x: torch.Tensor, g: torch.Generator) -> list[torch.Tensor]:
    """A global group (the image, random flips) and a local group of two random 16x16 crops."""
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    global_ = torch.where(flip[:, None, None, None], x.flip(3), x)
    local = []
    for _ in range(2):
        i, j = torch.randint(0, 13, (2,), generator=g).tolist()
        local.append(global_[:, :, i : i + 16, j : j + 16])
    return [global_, torch.cat(local)]


@pytest.fixture
def one_thread():
    # Deterministic, and no intra-op thread pool fighting other jobs for the cores: on a busy
    # 2-core machine torch's two threads made this run 8x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_short_trex_training_on_fashion_mnist_beats_chance(one_thread):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    train_x, train_y = subset("train", per_class=600)
    test_x, test_y = subset("test", per_class=None)
    model = trex.TReX(
        SmallCNN(), num_classes=len(CLASSES), recipe="trex-star",
        hidden_dim=128, out_dim=32, memory_size=512, ema_momentum=0.9,
    )  # fmt: skip
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    batch = 64
    for _ in range(2):
        order = torch.randperm(train_x.shape[0], generator=g)
        for start in range(0, order.numel() - batch + 1, batch):
            idx = order[start : start + batch]
            loss, _ = model(multi_crop(train_x[idx], g), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.update_ema()
            assert torch.isfinite(loss)

    memory = model.head.memory
    assert len(memory) == 512 and set(memory.labels.tolist()) == set(range(len(CLASSES)))
    model.eval()
    with torch.no_grad():
        logits = model.head(model.features(test_x))  # prototype logits from the memory
    accuracy = (logits.argmax(1) == test_y).float().mean().item()
    print(f"test accuracy with prototype logits: {accuracy:.3f} (chance 0.25)")
    assert accuracy > 0.75
    with torch.no_grad():
        _, logits2 = model(test_x, test_y)  # the same through TReX.forward in eval mode
    torch.testing.assert_close(logits2, logits)

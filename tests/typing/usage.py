"""The documented usage of trex's public API, type-checked with `mypy --strict` (tests/test_typing.py);
never run. What a user writes after the README, the docstrings and notebooks/quickstart.ipynb must
check without casts or ignores."""

from __future__ import annotations

import torch
import torchvision

import trex
from trex import MultiCropLoader, PrototypeHead, PrototypeMemory, TReX, normalize


def readme_loop(device: str = "cuda") -> torch.nn.Module:
    loader = trex.MultiCropLoader("imagenet/train", batch_size=64, recipe="trex")
    model = trex.TReX(torchvision.models.resnet50(), num_classes=1000, recipe="trex")
    # The EMA copy is inside model.parameters() with requires_grad=False: optimise the others.
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    for epoch in range(100):
        loader.set_epoch(epoch)
        for batch in loader:
            groups = [trex.normalize(g.to(device, non_blocking=True)) for g in batch.groups]
            loss, logits = model(groups, batch.labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.update_ema()
    return model.backbone


def the_memory(model: TReX) -> tuple[torch.Tensor, int]:
    memory: PrototypeMemory = model.memory  # the head's memory, typed (RuntimeError when it has none)
    prototypes: torch.Tensor = memory.prototypes()
    return prototypes, len(memory)


def the_head(model: TReX) -> None:
    head = model.head
    if isinstance(head, PrototypeHead) and head.memory is not None:  # what model.memory checks
        head.memory.prototypes()
    logits: torch.Tensor = model.head(torch.zeros(2, model.feature_dim))
    del logits


def hand_written_loop(loader: MultiCropLoader, backbone: torch.nn.Module, feature_dim: int) -> float:
    head = PrototypeHead(in_dim=feature_dim, num_classes=10, hidden_layers=3, memory_size=512)
    params = [*backbone.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    total = 0.0
    for batch in loader:
        groups = [normalize(g) for g in batch.groups]
        feats = torch.cat([backbone(g) for g in groups])
        logits = head(feats)
        crops = feats.shape[0] // batch.labels.shape[0]
        loss = torch.nn.functional.cross_entropy(logits, batch.labels.repeat(crops))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():  # no EMA copy: write the online projector's features
            head.update_memory(head.projector(backbone(groups[0][: len(batch.labels)])), batch.labels)
        total += loss.item()
    return total


def pieces() -> None:
    memory = PrototypeMemory(size=64, dim=8, num_classes=3)
    memory.push(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))
    z = torch.randn(4, 8)
    logits = trex.prototype_logits(z, memory.prototypes(), temperature=0.1)
    loss = trex.prototype_loss(z, torch.tensor([0, 1, 2, 0]), memory.prototypes(), temperature=0.1)
    del logits, loss
    custom = trex.MultiCropRecipe((trex.CropGroup(2, 32, (0.2, 1.0)), trex.CropGroup(1, (16, 24), (0.1, 0.3))))
    size: tuple[int, int] = custom.groups[0].size  # an int size is held as (h, w)
    del size
    recipe = trex.create_recipe("trex-star", global_size=64, local_size=28)
    loader = MultiCropLoader([("a.jpg", 0)], 1, recipe, drop_last=False, dtype="float32")
    print(len(loader), recipe.num_crops, loader.recipe.outputs, trex.__version__)
    image: torch.Tensor = trex.ops.decode_file("a.jpg")
    del image
    try:
        trex.ops.decode_file("b.jpg")
    except trex.DecodeError as err:
        print(err)

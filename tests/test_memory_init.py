"""How the prototype memory starts: empty (zero prototypes), or full of random unit vectors as
the published code starts it."""

from __future__ import annotations

import pytest
import torch

import trex
from trex.train.config import make_config


def test_noise_start_fills_the_memory_with_balanced_random_unit_vectors() -> None:
    torch.manual_seed(0)
    head = trex.PrototypeHead(in_dim=16, num_classes=5, hidden_dim=32, out_dim=8, memory_size=40, memory_init="noise")
    memory = head.memory
    assert memory is not None and len(memory) == 40
    state = memory.state_dict()
    features, labels = state["features"], state["labels"]
    assert torch.allclose(features.norm(dim=1), torch.ones(40), atol=1e-5)
    assert torch.bincount(labels, minlength=5).tolist() == [8] * 5
    protos = memory.prototypes()
    # each class's prototype is the normalised sum of its 8 random vectors: 5 distinct directions
    expected = torch.nn.functional.normalize(
        torch.stack([features[labels == k].double().sum(0) for k in range(5)]), dim=1
    )
    assert torch.allclose(protos.double(), expected, atol=1e-5)
    assert (protos @ protos.T - torch.eye(5)).abs().max() < 0.9
    # the same seed gives the same start; another seed another
    torch.manual_seed(0)
    again = trex.PrototypeHead(16, 5, hidden_dim=32, out_dim=8, memory_size=40, memory_init="noise")
    assert again.memory is not None and torch.equal(again.memory.state_dict()["features"], features)


def test_empty_start_is_the_default_and_bad_values_are_refused() -> None:
    head = trex.PrototypeHead(in_dim=16, num_classes=5, hidden_dim=32, out_dim=8, memory_size=40)
    assert head.memory is not None and len(head.memory) == 0
    assert torch.count_nonzero(head.memory.prototypes()) == 0
    with pytest.raises(ValueError, match="memory_init must be one of 'empty', 'noise'"):
        trex.PrototypeHead(16, 5, hidden_dim=32, out_dim=8, memory_size=40, memory_init="zeros")
    model = trex.TReX(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 16)),
        5,
        "trex",
        feature_dim=16,
        hidden_dim=32,
        out_dim=8,
        memory_size=40,
        memory_init="noise",
    )
    assert len(model.head.memory) == 40  # type: ignore[union-attr]
    assert make_config(recipe="trex").memory_init is None  # `trex train` default: empty
    assert make_config(recipe="trex", memory_init="noise").memory_init == "noise"

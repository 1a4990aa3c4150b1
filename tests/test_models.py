"""trex.Projector, trex.PrototypeHead and trex.TReX on real photos (scikit-image's samples)."""

from __future__ import annotations

import copy
import doctest
import io
import os

import pytest
import skimage
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import trex
import trex.models.memory
import trex.models.model
from trex.constants import IMAGENET_MEAN, IMAGENET_STD

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg"]
TAU = 0.1


def photo_batch(names: list[str], size: int) -> torch.Tensor:
    """Real photos as a normalised float [N, 3, size, size] batch (centre square, bicubic)."""
    folder = os.path.dirname(skimage.data.__file__)
    out = []
    for name in names:
        img = trex.ops.decode_file(os.path.join(folder, name)).permute(2, 0, 1).float() / 255
        h, w = img.shape[1:]
        s = min(h, w)
        img = img[:, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out.append(F.interpolate(img[None], size=(size, size), mode="bicubic", antialias=True)[0])
    x = torch.stack(out).clamp(0, 1)
    return (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]


def crop_groups(images: torch.Tensor, local_crops: int = 2) -> list[torch.Tensor]:
    """[global group [B, 3, 64, 64], local group [local_crops * B, 3, 32, 32]], crop-major."""
    locals_ = []
    for c in range(local_crops):  # crop c of every image: a different corner region per crop
        o = 8 * c
        locals_.append(F.interpolate(images[:, :, o : o + 40, o : o + 40], size=(32, 32), mode="bilinear"))
    return [images, torch.cat(locals_)]


def small_cnn(feature_dim: int = 32) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, feature_dim, 3, stride=2, padding=1),
        nn.BatchNorm2d(feature_dim),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return photo_batch(PHOTOS[:4], 64)


def small_trex(recipe: str = "trex", **kwargs) -> trex.TReX:
    torch.manual_seed(0)
    kwargs = {"hidden_dim": 48, "out_dim": 24, "memory_size": 16, **kwargs}
    return trex.TReX(small_cnn(), num_classes=5, recipe=recipe, feature_dim=32, **kwargs)


# --- Projector ----------------------------------------------------------------------------


def test_projector_structure_and_init():
    torch.manual_seed(0)
    p = trex.Projector(2048, 3, 2048, 256)
    layers = list(p.layers)
    assert len(layers) == 10
    for i in range(3):
        lin, bn, act = layers[3 * i : 3 * i + 3]
        assert isinstance(lin, nn.Linear) and lin.bias is not None and lin.out_features == 2048
        assert isinstance(bn, nn.BatchNorm1d) and bn.num_features == 2048
        assert isinstance(act, nn.GELU)
        assert torch.equal(lin.bias, torch.zeros(2048))
        assert abs(lin.weight.std().item() - 0.02) < 0.0005 and abs(lin.weight.mean().item()) < 0.0005
    last = layers[-1]
    assert isinstance(last, nn.Linear) and last.bias is None and (last.in_features, last.out_features) == (2048, 256)
    assert layers[0].in_features == 2048

    single = trex.Projector(64, hidden_layers=0, out_dim=16)
    assert len(single.layers) == 1 and isinstance(single.layers[0], nn.Linear)
    assert single.layers[0].bias is None and single.layers[0].weight.shape == (16, 64)


def test_projector_normalises_its_input_and_matches_a_manual_forward():
    torch.manual_seed(0)
    p = trex.Projector(40, hidden_layers=2, hidden_dim=32, out_dim=8).eval()
    for m in p.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(6, 40)
    h = x / x.norm(dim=1, keepdim=True)
    for i in range(2):
        lin, bn = p.layers[3 * i], p.layers[3 * i + 1]
        h = h @ lin.weight.T + lin.bias
        h = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        h = 0.5 * h * (1 + torch.erf(h / 2**0.5))
    h = h @ p.layers[-1].weight.T
    torch.testing.assert_close(p(x), h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(p(7.5 * x), p(x), rtol=1e-5, atol=1e-6)  # scale-invariant input
    with pytest.raises(ValueError, match=r"Projector expects a \[N, 40\] input, got \[6, 39\]"):
        p(x[:, :39])


# --- PrototypeHead ------------------------------------------------------------------------


def test_prototype_head_logits_use_the_memory():
    torch.manual_seed(0)
    head = trex.PrototypeHead(32, num_classes=4, hidden_layers=1, hidden_dim=16, out_dim=8, memory_size=20)
    assert isinstance(head.memory, trex.PrototypeMemory) and head.memory.dim == 8 and head.weight is None
    x = torch.randn(10, 32)
    assert torch.equal(head(x), torch.zeros(10, 4))  # empty memory: every logit 0
    stored = torch.randn(12, 8)
    labels = torch.tensor([0, 1, 2, 3] * 3)
    head.update_memory(stored, labels)
    head.eval()
    sums = torch.zeros(4, 8).index_add_(0, labels, stored)
    expected = F.normalize(head.projector(x), dim=1) @ F.normalize(sums, dim=1).T / 0.1
    logits = head(x)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    assert logits.dtype == torch.float32
    with pytest.raises(trex.MemoryBankError, match="labels must lie in"):
        head.update_memory(stored, labels + 1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        head.update_memory(stored.tolist(), labels)


def test_prototype_head_without_memory_is_a_learned_cosine_classifier():
    torch.manual_seed(0)
    head = trex.PrototypeHead(32, num_classes=4, hidden_layers=0, out_dim=8, memory_size=0, temperature=0.2)
    assert head.memory is None and head.weight.shape == (4, 8)
    x = torch.randn(10, 32)
    z = head.projector(x)
    expected = F.normalize(z, dim=1) @ F.normalize(head.weight, dim=1).T / 0.2
    logits = head(x)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
    logits.logsumexp(1).sum().backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    with pytest.raises(RuntimeError, match="no memory"):
        head.update_memory(z.detach(), torch.zeros(10, dtype=torch.int64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = head(x)
    assert low.dtype == torch.float32


def test_prototype_head_gradient_reaches_projector_not_memory():
    torch.manual_seed(0)
    head = trex.PrototypeHead(16, num_classes=3, hidden_layers=1, hidden_dim=16, out_dim=8, memory_size=12)
    head.update_memory(torch.randn(12, 8), torch.tensor([0, 1, 2] * 4))
    F.cross_entropy(head(torch.randn(6, 16)), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.projector.parameters())
    assert not head.memory.features.requires_grad


# --- TReX ---------------------------------------------------------------------------------


def test_feature_dim_is_read_from_the_backbone():
    resnet = torchvision.models.resnet18()
    model = trex.TReX(resnet, num_classes=10, hidden_dim=32, out_dim=16, memory_size=32)
    assert model.feature_dim == 512 and isinstance(model.backbone.fc, nn.Identity)
    assert model.head.projector.in_dim == 512
    mobilenet = torchvision.models.mobilenet_v3_small()  # classifier = Sequential(..., Linear)
    assert trex.TReX(mobilenet, 10, recipe="baseline").feature_dim == 1024
    assert isinstance(mobilenet.classifier[-1], nn.Identity)

    headless = small_cnn(20)
    headless.num_features = 20  # timm's convention
    assert trex.TReX(headless, 3, recipe="trex-star", hidden_dim=8, out_dim=8, memory_size=8).feature_dim == 20
    with pytest.raises(ValueError, match="feature_dim="):
        trex.TReX(small_cnn(), 3)
    assert trex.TReX(small_cnn(), 3, feature_dim=32, hidden_dim=8, out_dim=8, memory_size=8).feature_dim == 32


def test_recipes():
    assert small_trex("trex").head.projector.hidden_layers == 3
    star = small_trex("trex-star")
    assert star.head.projector.hidden_layers == 1 and star.ema is not None
    base = small_trex("baseline")
    assert isinstance(base.head, nn.Linear) and base.ema is None
    assert (base.head.in_features, base.head.out_features) == (32, 5)
    assert not any(isinstance(m, (trex.Projector, trex.PrototypeMemory)) for m in base.modules())
    with pytest.raises(ValueError, match="unknown recipe 'dino'; expected one of 'trex', 'trex-star', 'baseline'"):
        small_trex("dino")


def test_trex_forward_runs_the_backbone_once_per_resolution_and_fills_the_memory(images):
    model = small_trex("trex")
    groups = crop_groups(images)
    labels = torch.tensor([0, 3, 1, 3])
    calls = []
    model.backbone.register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    projected = []
    model.head.projector.register_forward_hook(lambda m, args, out: projected.append(out))

    loss, logits = model(groups, labels)
    assert calls == [(4, 3, 64, 64), (8, 3, 32, 32)]  # global group first, once per resolution
    assert logits.shape == (12, 5) and logits.dtype == torch.float32
    assert torch.equal(logits, torch.zeros(12, 5))  # memory empty before this step's write
    torch.testing.assert_close(loss, torch.tensor(5.0).log())
    # The memory now holds the EMA features of the global crops.
    ema = model.ema
    expected = ema["projector"](ema["backbone"](groups[0]).flatten(1))
    assert len(model.head.memory) == 4
    torch.testing.assert_close(model.head.memory.features[:4], expected.detach(), rtol=1e-5, atol=1e-5)
    assert torch.equal(model.head.memory.labels[:4], labels)

    # Second step: logits from the memory as it was before this step's write.
    before = model.head.memory.prototypes()
    loss2, logits2 = model(groups, labels)
    z = projected[-1]
    torch.testing.assert_close(logits2, trex.prototype_logits(z, before, TAU), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(loss2, F.cross_entropy(logits2, labels.repeat(3)))
    assert len(model.head.memory) == 8
    loss2.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.ema.parameters())


def test_projector_layers_override_the_recipe():
    assert small_trex("trex").projector_layers == 3 and small_trex("trex-star").projector_layers == 1
    assert small_trex("baseline").projector_layers == 0
    deeper = small_trex("trex-star", projector_layers=2)
    assert deeper.projector_layers == 2 and deeper.head.projector.hidden_layers == 2
    assert deeper.ema["projector"].hidden_layers == 2
    assert small_trex("trex", projector_layers=None).head.projector.hidden_layers == 3  # None: the recipe's
    # 0: no projector at all; the memory holds backbone features (feature_dim 32, not out_dim 24).
    bare = small_trex("trex", projector_layers=0)
    assert isinstance(bare.head.projector, nn.Identity) and not list(bare.head.parameters())
    assert not any(isinstance(m, trex.Projector) for m in bare.modules())
    assert bare.head.feature_dim == 32 and bare.head.memory.dim == 32 and "projector_layers=0" in repr(bare)
    cosine = small_trex("trex", projector_layers=0, memory_size=0)
    assert [n for n, _ in cosine.head.named_parameters()] == ["weight"] and cosine.head.weight.shape == (5, 32)
    assert cosine.ema is None
    assert isinstance(small_trex("baseline", projector_layers=0).head, nn.Linear)  # the baseline has none anyway
    with pytest.raises(ValueError, match="projector_layers must be >= 0, got -1"):
        small_trex("trex", projector_layers=-1)
    with pytest.raises(ValueError, match="recipe 'baseline' has a linear classifier and no projector"):
        small_trex("baseline", projector_layers=1)
    with pytest.raises(TypeError, match="projector_layers must be an int"):
        small_trex("trex", projector_layers=1.5)


def test_memory_without_projector_on_a_single_crop(images):
    # baseline + memory: one crop per image, prototypes of EMA backbone features, no projector.
    model = small_trex("trex", projector_layers=0)
    labels = torch.tensor([0, 3, 1, 3])
    loss, logits = model([images], labels)
    assert logits.shape == (4, 5) and torch.equal(logits, torch.zeros(4, 5))  # memory empty before the write
    # The single crop is the global crop: its EMA backbone features are written, unprojected.
    written = model.ema["backbone"](images).flatten(1)
    assert len(model.head.memory) == 4 and model.head.memory.features.shape == (16, 32)
    torch.testing.assert_close(model.head.memory.features[:4], written, rtol=1e-5, atol=1e-5)
    before = model.head.memory.prototypes()
    loss, logits = model([images], labels)
    torch.testing.assert_close(logits, trex.prototype_logits(model.backbone(images), before, TAU), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    old = [p.detach().clone() for p in model.backbone.parameters()]
    loss.backward()
    opt.step()
    assert any(not torch.equal(p, o) for p, o in zip(model.backbone.parameters(), old))  # the step trained
    ema, online = model.ema_pairs()
    assert len(online) == len(list(model.backbone.parameters()))  # EMA of the backbone alone
    model.update_ema(momentum=0.0)
    assert all(torch.equal(e, o) for e, o in zip(ema, online))
    with pytest.raises(ValueError, match=r"PrototypeHead expects a \[N, 32\] input, got \[4, 31\]"):
        model.head(torch.zeros(4, 31))


def test_trex_head_on_a_single_crop_writes_that_crop(images):
    model = small_trex("trex")
    labels = torch.tensor([0, 1, 2, 3])
    loss, logits = model(images, labels)
    assert logits.shape == (4, 5) and torch.isfinite(loss)
    expected = model.ema["projector"](model.ema["backbone"](images).flatten(1))
    torch.testing.assert_close(model.head.memory.features[:4], expected, rtol=1e-5, atol=1e-5)


def test_baseline_classifier_on_every_crop(images):
    # baseline + multi-crop: the linear classifier on the global and the local crops, the
    # cross-entropy averaged over all of them.
    model = small_trex("baseline")
    groups = crop_groups(images)  # 1 global + 2 local crops of 4 images
    labels = torch.tensor([0, 1, 2, 3])
    loss, logits = model(groups, labels)
    assert logits.shape == (12, 5)
    feats = torch.cat([model.backbone(groups[0]), model.backbone(groups[1])])
    torch.testing.assert_close(logits, model.head(feats))
    per_crop = [F.cross_entropy(logits[4 * c : 4 * c + 4], labels) for c in range(3)]
    torch.testing.assert_close(loss, torch.stack(per_crop).mean())
    assert not torch.allclose(loss, per_crop[0])  # the local crops count
    loss.backward()
    assert model.head.weight.grad is not None


def test_trex_eval_mode_does_not_write_the_memory(images):
    model = small_trex("trex-star")
    model(crop_groups(images), torch.tensor([0, 1, 2, 3]))
    state = copy.deepcopy(model.head.memory.state_dict())
    model.eval()
    loss, logits = model(images, torch.tensor([0, 1, 2, 3]))
    assert logits.shape == (4, 5)
    for k, v in model.head.memory.state_dict().items():
        assert torch.equal(v, state[k])


def test_trex_rejects_bad_groups(images):
    model = small_trex()
    with pytest.raises(ValueError, match=r"groups\[1\] must be \[n_crops \* 4, ...\]"):
        model([images, images[:3]], torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="groups is empty"):
        model([], torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must be a non-empty \[B\] tensor"):
        model([images], torch.tensor([[0, 1, 2, 3]]))


def test_uint8_crops_are_refused_with_what_to_do(images):
    model = small_trex()
    labels = torch.tensor([0, 1, 2, 3])
    # What MultiCropLoader yields by default: uint8 0-255 crops.
    u8 = [(g * 0.25 + 0.5).mul(255).clamp(0, 255).to(torch.uint8) for g in crop_groups(images)]
    for groups in (u8, [u8[0]], [crop_groups(images)[0], u8[1]]):
        with pytest.raises(TypeError, match="uint8 crops: call trex.normalize first"):
            model(groups, labels)
    assert len(model.head.memory) == 0  # refused before anything ran
    loss, _ = model([trex.normalize(g) for g in u8], labels)  # what the message says to do works
    assert torch.isfinite(loss) and len(model.head.memory) == 4
    head = trex.PrototypeHead(8, 3, hidden_layers=None, memory_size=4)
    for bad in (torch.zeros(2, 8, dtype=torch.uint8), torch.zeros(2, 8, dtype=torch.long)):
        with pytest.raises(TypeError, match=f"got {bad.dtype}; uint8 crops: call trex.normalize first"):
            head(bad)
    assert head(torch.zeros(2, 8)).shape == (2, 3)


def test_memory_property_is_the_heads_memory_or_says_why_there_is_none():
    model = small_trex("trex")
    assert model.memory is model.head.memory and isinstance(model.memory, trex.PrototypeMemory)
    with pytest.raises(RuntimeError, match="baseline has a linear classifier"):
        small_trex("baseline").memory
    with pytest.raises(RuntimeError, match="memory_size=0 gives a learned cosine classifier"):
        small_trex("trex-star", memory_size=0).memory


def test_first_step_loss_is_ln_c_while_the_memory_is_empty(images):
    # Every class without an entry has logit 0, so the first step (memory still empty: this step's
    # write comes after its logits) is a uniform softmax over the 5 classes: loss ln 5 exactly.
    import math

    model = small_trex("trex")
    labels = torch.tensor([0, 1, 2, 3])
    loss, logits = model(crop_groups(images), labels)
    assert torch.equal(logits, torch.zeros_like(logits)) and loss.item() == pytest.approx(math.log(5), abs=1e-6)
    loss, _ = model(crop_groups(images), labels)  # the memory now holds 4 classes: no longer uniform
    assert abs(loss.item() - math.log(5)) > 1e-3


def test_update_ema_averages_parameters_only(images):
    model = small_trex("trex")
    model(crop_groups(images), torch.tensor([0, 1, 2, 3]))[0].backward()
    ema_before = [p.clone() for p in model.ema.parameters()]
    buffers_before = [b.clone() for b in model.ema.buffers()]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    opt.step()
    model.update_ema()
    online = [*model.backbone.parameters(), *model.head.projector.parameters()]
    for e, old, o in zip(model.ema.parameters(), ema_before, online):
        torch.testing.assert_close(e, 0.999 * old + 0.001 * o, rtol=0, atol=1e-7)
    assert any(not torch.equal(e, old) for e, old in zip(model.ema.parameters(), ema_before))
    for b, old in zip(model.ema.buffers(), buffers_before):
        assert torch.equal(b, old)
    model.update_ema(momentum=0.0)  # copies the online weights
    for e, o in zip(model.ema.parameters(), online):
        assert torch.equal(e, o)
    assert not any(p.requires_grad for p in model.ema.parameters())
    with pytest.raises(ValueError, match="momentum must lie in"):
        model.update_ema(momentum=1.5)


def test_baseline_is_a_linear_classifier_on_backbone_features(images):
    model = small_trex("baseline")
    labels = torch.tensor([0, 1, 2, 3])
    loss, logits = model([images], labels)
    expected = model.head(model.backbone(images))
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(loss, F.cross_entropy(expected, labels))
    model.update_ema()  # nothing to do


def test_trex_state_dict_round_trip(images):
    model = small_trex("trex")
    for _ in range(3):
        model(crop_groups(images), torch.tensor([0, 1, 2, 3]))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = small_trex("trex")
    restored.load_state_dict(torch.load(buffer))
    a, b = model.state_dict(), restored.state_dict()
    assert (
        a.keys() == b.keys() and any(k.startswith("head.memory.") for k in a) and any(k.startswith("ema.") for k in a)
    )
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_trex_under_autocast_keeps_the_memory_float32(images):
    model = small_trex("trex")
    labels = torch.tensor([0, 1, 2, 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(crop_groups(images), labels)
        loss, logits = model(crop_groups(images), labels)
    assert logits.dtype == torch.float32 and torch.isfinite(loss)
    assert model.head.memory.features.dtype == torch.float32 and len(model.head.memory) == 8
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.head.projector.parameters())


def test_sync_batchnorm_conversion():
    model = nn.SyncBatchNorm.convert_sync_batchnorm(small_trex("trex"))
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.head.projector.modules())
    assert isinstance(model.head.memory, trex.PrototypeMemory)


def test_resnet_backbone_end_to_end():
    model = trex.TReX(torchvision.models.resnet18(), num_classes=6, recipe="trex", hidden_dim=64, out_dim=32)
    images = photo_batch(PHOTOS, 64)
    labels = torch.arange(6)
    loss, logits = model(crop_groups(images, local_crops=1), labels)
    assert logits.shape == (12, 6) and len(model.head.memory) == 6
    loss.backward()
    model.update_ema()


@pytest.mark.parametrize("module", [trex.models.memory, trex.models.model])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

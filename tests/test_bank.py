"""trex.PrototypeMemory, trex.prototype_logits and trex.prototype_loss against a plain-PyTorch
reference written here: a FIFO ring written row by row, prototypes by index_add_ over the whole
memory, logits by F.normalize and a matmul."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F

import trex

TAU = 0.1


@pytest.fixture(autouse=True)
def one_thread():
    # These tests make thousands of tiny tensor ops, dominated by per-op overhead; torch's
    # intra-op thread pool only adds barrier waits on a busy machine (10x slower here). Results
    # do not depend on the thread count; test_models.py and the training test use the default.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ReferenceMemory:
    """The obvious implementation: no running sums, everything recomputed from the entries."""

    def __init__(self, size: int, dim: int, num_classes: int, device: str | torch.device = "cpu") -> None:
        self.size, self.num_classes = size, num_classes
        self.features = torch.zeros(size, dim, device=device)
        self.labels = torch.full((size,), -1, dtype=torch.int64, device=device)
        self.position = 0

    def push(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        for row in range(labels.shape[0]):  # one row at a time, FIFO, wrapping around
            self.features[self.position] = features[row].float()
            self.labels[self.position] = labels[row]
            self.position = (self.position + 1) % self.size

    def prototypes(self) -> torch.Tensor:
        stored = self.labels >= 0
        sums = torch.zeros(self.num_classes, self.features.shape[1], device=self.features.device)
        sums.index_add_(0, self.labels[stored], self.features[stored])
        return F.normalize(sums, dim=1)


def reference_logits(z: torch.Tensor, prototypes: torch.Tensor, temperature: float = TAU) -> torch.Tensor:
    return F.normalize(z.float(), dim=1) @ prototypes.float().T / temperature


def batches(n: int, dim: int, num_classes: int, sizes: list[int], seed: int = 0):
    """`n` (features, labels) batches with the given sizes in turn; class-dependent means so the
    prototypes differ between classes."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=g) * 2
    for i in range(n):
        b = sizes[i % len(sizes)]
        labels = torch.randint(0, num_classes, (b,), generator=g)
        yield centres[labels] + torch.randn(b, dim, generator=g), labels


def snapshot(memory: trex.PrototypeMemory) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in memory.state_dict().items()}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k].cpu(), b[k].cpu()), k


# --- construction -------------------------------------------------------------------------


def test_new_memory_is_empty_and_registers_buffers():
    memory = trex.PrototypeMemory(size=16, dim=4, num_classes=3)
    assert len(memory) == 0
    assert torch.equal(memory.prototypes(), torch.zeros(3, 4))
    assert torch.equal(memory.labels, torch.full((16,), -1))
    assert torch.equal(memory.features, torch.zeros(16, 4))
    assert set(memory.state_dict()) == {"features", "labels", "sums", "counts", "position", "pushes"}
    assert list(memory.parameters()) == []
    assert "size=16, dim=4, num_classes=3" in repr(memory)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(size=0, dim=4, num_classes=3), ValueError),
        (dict(size=8, dim=-1, num_classes=3), ValueError),
        (dict(size=8, dim=4, num_classes=0), ValueError),
        (dict(size=8.5, dim=4, num_classes=3), TypeError),
        (dict(size=8, dim=4, num_classes=3, recompute_every=-1), ValueError),
    ],
)
def test_bad_constructor_arguments(kwargs, error):
    with pytest.raises(error, match="size|dim|num_classes|recompute_every"):
        trex.PrototypeMemory(**kwargs)


# --- agreement with the reference -------------------------------------------------------


@pytest.mark.parametrize("sizes", [[7], [13, 1, 40, 100, 3], [250, 9]], ids=["small", "mixed", "oversized"])
def test_prototypes_and_logits_match_reference_over_wrapping_pushes(sizes):
    size, dim, num_classes = 100, 16, 10
    memory = trex.PrototypeMemory(size, dim, num_classes, recompute_every=50)
    ref = ReferenceMemory(size, dim, num_classes)
    z = torch.randn(32, dim, generator=torch.Generator().manual_seed(1))
    for features, labels in batches(120, dim, num_classes, sizes):
        memory.push(features, labels)
        ref.push(features, labels)
        assert torch.equal(memory.features, ref.features)
        assert torch.equal(memory.labels, ref.labels)
        assert int(memory.position) == ref.position
        expected = ref.prototypes()
        got = memory.prototypes()
        assert got.dtype == torch.float32 and got.shape == (num_classes, dim)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            trex.prototype_logits(z, got, TAU), reference_logits(z, expected), rtol=1e-5, atol=1e-5
        )
    assert len(memory) == size
    assert int(memory.pushes) == 120


def test_empty_class_has_zero_prototype_and_zero_logit():
    memory = trex.PrototypeMemory(size=4, dim=3, num_classes=3)
    memory.push(torch.tensor([[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]]), torch.tensor([0, 2]))
    p = memory.prototypes()
    torch.testing.assert_close(p, torch.tensor([[1 / 3, 2 / 3, 2 / 3], [0.0, 0.0, 0.0], [0.0, 0.6, 0.8]]))
    # The class-0 entries are overwritten: class 0 becomes empty again and its prototype zero.
    memory.push(torch.ones(3, 3), torch.tensor([1, 1, 1]))
    assert torch.equal(memory.prototypes()[0], torch.zeros(3))
    logits = trex.prototype_logits(torch.randn(5, 3), memory.prototypes(), TAU)
    assert torch.equal(logits[:, 0], torch.zeros(5))


def test_batch_larger_than_memory_keeps_its_last_rows():
    memory = trex.PrototypeMemory(size=5, dim=2, num_classes=12)
    memory.push(torch.zeros(2, 2), torch.tensor([0, 0]))
    features = torch.arange(24.0).reshape(12, 2)
    labels = torch.arange(12)
    memory.push(features, labels)
    assert sorted(memory.labels.tolist()) == [7, 8, 9, 10, 11]
    # As if the 12 rows were pushed one at a time from position 2: row i lands in slot (2 + i) % 5.
    assert memory.labels.tolist() == [8, 9, 10, 11, 7]
    assert int(memory.position) == (2 + 12) % 5
    assert torch.equal(memory.features[2], features[10])


def test_gradients_wrt_projector_input_match_reference():
    torch.manual_seed(0)
    in_dim, num_classes = 24, 6
    projector = trex.Projector(in_dim, hidden_layers=2, hidden_dim=32, out_dim=16)
    ref_projector = copy.deepcopy(projector)
    memory = trex.PrototypeMemory(64, 16, num_classes)
    ref = ReferenceMemory(64, 16, num_classes)
    for features, labels in batches(5, 16, num_classes, [20]):
        memory.push(features, labels)
        ref.push(features, labels)
    x = torch.randn(40, in_dim, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    labels = torch.randint(0, num_classes, (40,))

    prototypes = memory.prototypes().requires_grad_(True)  # to show no gradient reaches it
    loss = trex.prototype_loss(projector(x), labels, prototypes, TAU)
    loss.backward()
    ref_loss = F.cross_entropy(reference_logits(ref_projector(x_ref), ref.prototypes()), labels)
    ref_loss.backward()

    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    for p, q in zip(projector.parameters(), ref_projector.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5)
    assert prototypes.grad is None
    assert x.grad.abs().max() > 1e-4  # the gradient is not trivially zero

    # prototype_logits + cross-entropy gives the same gradient as prototype_loss.
    x2 = x.detach().clone().requires_grad_(True)
    F.cross_entropy(trex.prototype_logits(projector(x2), memory.prototypes(), TAU), labels).backward()
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-6)


def test_incremental_sums_agree_with_full_recompute_after_10000_pushes():
    size, dim, num_classes, batch = 512, 32, 10, 48
    memory = trex.PrototypeMemory(size, dim, num_classes, recompute_every=0)  # never recompute
    pool_f, pool_l = next(batches(1, dim, num_classes, [4096], seed=3))
    for step in range(10_000):
        start = (step * 97) % (4096 - batch)
        memory.push(pool_f[start : start + batch], pool_l[start : start + batch])
    assert int(memory.pushes) == 10_000
    # Independent recompute from the stored entries, float64.
    exact = torch.zeros(num_classes, dim, dtype=torch.float64)
    exact.index_add_(0, memory.labels, memory.features.double())
    torch.testing.assert_close(memory.sums, exact, rtol=1e-10, atol=1e-10)
    assert torch.equal(memory.counts, torch.bincount(memory.labels, minlength=num_classes))
    # The memory's own recompute agrees too, and the prototypes match the reference.
    drifted = memory.sums.clone()
    memory.recompute()
    torch.testing.assert_close(memory.sums, drifted, rtol=1e-10, atol=1e-10)
    ref = F.normalize(exact.float().new_zeros(num_classes, dim).index_add_(0, memory.labels, memory.features), dim=1)
    torch.testing.assert_close(memory.prototypes(), ref, rtol=1e-5, atol=1e-5)


def test_periodic_recompute_rebuilds_the_sums_exactly():
    memory = trex.PrototypeMemory(40, 8, 5, recompute_every=7)
    for i, (features, labels) in enumerate(batches(14, 8, 5, [11])):
        memory.push(features, labels)
        if i + 1 in (7, 14):
            rebuilt = copy.deepcopy(memory)
            rebuilt.recompute()
            assert torch.equal(memory.sums, rebuilt.sums), f"no recompute after push {i + 1}"
    assert int(memory.pushes) == 14


def test_state_dict_round_trip_restores_bit_identical_memory():
    memory = trex.PrototypeMemory(50, 8, 6, recompute_every=4)
    data = list(batches(30, 8, 6, [9, 17]))
    for features, labels in data[:21]:
        memory.push(features, labels)
    buffer = io.BytesIO()
    torch.save(memory.state_dict(), buffer)
    buffer.seek(0)
    restored = trex.PrototypeMemory(50, 8, 6, recompute_every=4)
    restored.load_state_dict(torch.load(buffer))
    assert_same_state(snapshot(memory), snapshot(restored))
    assert torch.equal(memory.prototypes(), restored.prototypes())
    # Both go on identically (including the recompute schedule, which the push counter drives).
    for features, labels in data[21:]:
        memory.push(features, labels)
        restored.push(features, labels)
    assert_same_state(snapshot(memory), snapshot(restored))
    assert torch.equal(memory.prototypes(), restored.prototypes())


def test_dtype_casts_keep_the_memory_precision():
    memory = trex.PrototypeMemory(10, 4, 3)
    memory.push(torch.tensor([[0.1, 0.2, 0.3, 0.4]]), torch.tensor([1]))
    before = snapshot(memory)
    memory.half()
    memory.to(torch.bfloat16)
    assert memory.features.dtype == torch.float32 and memory.sums.dtype == torch.float64
    assert_same_state(before, snapshot(memory))
    # Inside a model cast to half, the memory stays float32.
    model = torch.nn.Module()
    model.memory = trex.PrototypeMemory(10, 4, 3)
    model.linear = torch.nn.Linear(4, 4)
    model.half()
    assert model.linear.weight.dtype == torch.float16 and model.memory.features.dtype == torch.float32


def test_len_and_reset():
    memory = trex.PrototypeMemory(10, 4, 3)
    memory.push(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert len(memory) == 6
    memory.push(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert len(memory) == 10
    memory.reset()
    assert len(memory) == 0 and int(memory.position) == 0 and int(memory.pushes) == 0
    assert_same_state(snapshot(memory), snapshot(trex.PrototypeMemory(10, 4, 3)))


def test_push_records_no_gradient_and_accepts_other_dtypes():
    memory = trex.PrototypeMemory(8, 4, 3)
    features = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    memory.push(features, torch.tensor([0, 1, 2], dtype=torch.int32))
    assert not memory.features.requires_grad and memory.features.grad_fn is None
    assert torch.equal(memory.features[:3], features.detach().float())
    memory.push(torch.randn(2, 4).bfloat16(), torch.tensor([1, 2], dtype=torch.uint8))
    assert memory.labels[:5].tolist() == [0, 1, 2, 1, 2]


# --- bad input ----------------------------------------------------------------------------

DIM, CLASSES = 4, 3


def _good():
    return torch.randn(5, DIM), torch.tensor([0, 1, 2, 0, 1])


BAD_PUSHES = {
    "label too large": (
        lambda f, l: (f, torch.tensor([0, 1, 3, 0, 1])),
        r"labels must lie in \[0, 3\), got values from 0 to 3",
    ),
    "negative label": (
        lambda f, l: (f, torch.tensor([0, -1, 2, 0, 1])),
        r"labels must lie in \[0, 3\), got values from -1",
    ),
    "wrong feature dim": (
        lambda f, l: (torch.randn(5, DIM + 1), l),
        r"features must be a \[batch, 4\] tensor, got shape \[5, 5\]",
    ),
    "1-d features": (lambda f, l: (f.flatten(), l), r"features must be a \[batch, 4\] tensor, got shape \[20\]"),
    "3-d features": (lambda f, l: (f[None], l), r"features must be a \[batch, 4\] tensor, got shape \[1, 5, 4\]"),
    "2-d labels": (lambda f, l: (f, l[:, None]), r"labels must be a \[batch\] tensor, got shape \[5, 1\]"),
    "batch mismatch": (lambda f, l: (f, l[:4]), r"batch sizes differ: features has 5 rows, labels has 4"),
    "nan": (lambda f, l: (f.index_fill(0, torch.tensor([2]), float("nan")), l), r"features must be finite, got 4 NaN"),
    "inf": (lambda f, l: (f.index_fill(1, torch.tensor([0]), float("inf")), l), r"features must be finite, got 5"),
    "float32 overflow": (lambda f, l: (f.double().fill_(1e39), l), r"features must be finite, got 20"),
    "integer features": (lambda f, l: (f.long(), l), r"features must have a floating-point .* dtype, got int64"),
    "float labels": (lambda f, l: (f, l.float()), r"labels must have a integer .* dtype, got float32"),
    "bool labels": (lambda f, l: (f, l > 0), r"labels must have a integer .* dtype, got bool"),
    "features on another device": (lambda f, l: (f.to("meta"), l), r"features is on .* but the memory is on cpu"),
    "labels on another device": (lambda f, l: (f, l.to("meta")), r"labels is on .* but the memory is on cpu"),
}


@pytest.mark.parametrize("case", list(BAD_PUSHES), ids=list(BAD_PUSHES))
def test_refused_push_raises_memory_bank_error_and_writes_nothing(case):
    make, message = BAD_PUSHES[case]
    memory = trex.PrototypeMemory(8, DIM, CLASSES)
    memory.push(*_good())
    before = snapshot(memory)
    with pytest.raises(trex.MemoryBankError, match=message) as info:
        memory.push(*make(*_good()))
    assert isinstance(info.value, ValueError)
    assert_same_state(before, snapshot(memory))


def test_non_tensor_push_raises_type_error():
    memory = trex.PrototypeMemory(8, DIM, CLASSES)
    with pytest.raises(TypeError, match="features.*torch.Tensor"):
        memory.push([[0.0] * DIM], torch.tensor([0]))


def test_empty_push_is_a_no_op():
    memory = trex.PrototypeMemory(8, DIM, CLASSES)
    before = snapshot(memory)
    memory.push(torch.zeros(0, DIM), torch.zeros(0, dtype=torch.int64))
    assert_same_state(before, snapshot(memory))


def test_bad_logits_and_loss_input():
    z, p = torch.randn(5, DIM), F.normalize(torch.randn(CLASSES, DIM), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(trex.MemoryBankError, match=r"prototypes must be a \[num_classes, 4\]"):
        trex.prototype_logits(z, p[:, :3], TAU)
    with pytest.raises(trex.MemoryBankError, match=r"z must be a \[batch, dim\] tensor, got shape \[20\]"):
        trex.prototype_logits(z.flatten(), p, TAU)
    with pytest.raises(trex.MemoryBankError, match="z must have a floating-point"):
        trex.prototype_logits(z.long(), p, TAU)
    with pytest.raises(trex.MemoryBankError, match="prototypes is on .* but z is on cpu"):
        trex.prototype_logits(z, p.to("meta"), TAU)
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            trex.prototype_logits(z, p, bad)
    with pytest.raises(trex.MemoryBankError, match=r"labels must lie in \[0, 3\), got values from 0 to 7"):
        trex.prototype_loss(z, torch.tensor([0, 1, 7, 0, 1]), p, TAU)
    with pytest.raises(trex.MemoryBankError, match="batch sizes differ: z has 5 rows, labels has 4"):
        trex.prototype_loss(z, labels[:4], p, TAU)
    with pytest.raises(trex.MemoryBankError, match="empty"):
        trex.prototype_loss(z[:0], labels[:0], p, TAU)
    with pytest.raises(trex.MemoryBankError, match="labels is on .* but z is on cpu"):
        trex.prototype_loss(z, labels.to("meta"), p, TAU)


# --- autocast -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_logits_under_cpu_autocast_keep_float32(dtype):
    torch.manual_seed(0)
    projector = trex.Projector(12, hidden_layers=1, hidden_dim=16, out_dim=8)
    memory = trex.PrototypeMemory(32, 8, 4)
    x = torch.randn(10, 12, requires_grad=True)
    labels = torch.randint(0, 4, (10,))
    with torch.autocast("cpu", dtype=dtype):
        memory.push(projector(torch.randn(20, 12)), torch.randint(0, 4, (20,)))
        z = projector(x)
        assert z.dtype == dtype  # autocast is on for the projector ...
        z.retain_grad()
        prototypes = memory.prototypes()
        logits = trex.prototype_logits(z, prototypes, TAU)
        loss = trex.prototype_loss(z, labels, prototypes, TAU)
        assert (z @ prototypes.T).dtype == dtype  # ... and would be for a plain matmul
    assert memory.features.dtype == torch.float32 and prototypes.dtype == torch.float32
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    # The reference in float32 from the same (low-precision) z.
    z32 = z.detach().float().requires_grad_(True)
    ref_logits = reference_logits(z32, prototypes)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    F.cross_entropy(ref_logits, labels).backward()
    loss.backward()
    assert z.grad.dtype == dtype and x.grad is not None and torch.isfinite(x.grad).all()
    torch.testing.assert_close(z.grad.float(), z32.grad, rtol=1e-2, atol=1e-3)


# --- CUDA (run on a GPU machine: pytest -m cuda) ------------------------------------------

cuda = pytest.mark.cuda


def _require_cuda():
    if not torch.cuda.is_available():
        pytest.fail("CUDA test selected but no CUDA device is available")


@cuda
def test_cuda_memory_matches_cpu():
    _require_cuda()
    cpu = trex.PrototypeMemory(100, 16, 10, recompute_every=13)
    gpu = trex.PrototypeMemory(100, 16, 10, device="cuda", recompute_every=13)
    assert gpu.features.is_cuda and gpu.sums.is_cuda and gpu.position.is_cuda
    for features, labels in batches(60, 16, 10, [13, 1, 40, 250]):
        cpu.push(features, labels)
        gpu.push(features.cuda(), labels.cuda())
        torch.testing.assert_close(gpu.prototypes().cpu(), cpu.prototypes(), rtol=1e-5, atol=1e-5)
    assert torch.equal(gpu.features.cpu(), cpu.features) and torch.equal(gpu.labels.cpu(), cpu.labels)
    torch.testing.assert_close(gpu.sums.cpu(), cpu.sums, rtol=1e-10, atol=1e-10)
    assert gpu.prototypes().is_cuda


@cuda
def test_cuda_logits_loss_and_gradients_match_cpu():
    _require_cuda()
    torch.manual_seed(0)
    memory = trex.PrototypeMemory(64, 16, 6)
    for features, labels in batches(5, 16, 6, [20]):
        memory.push(features, labels)
    projector = trex.Projector(24, hidden_layers=1, hidden_dim=32, out_dim=16)
    projector_gpu = copy.deepcopy(projector).cuda()
    gpu_memory = copy.deepcopy(memory).cuda()
    x = torch.randn(40, 24, requires_grad=True)
    xg = x.detach().cuda().requires_grad_(True)
    labels = torch.randint(0, 6, (40,))
    loss = trex.prototype_loss(projector(x), labels, memory.prototypes(), TAU)
    loss_g = trex.prototype_loss(projector_gpu(xg), labels.cuda(), gpu_memory.prototypes(), TAU)
    loss.backward()
    loss_g.backward()
    assert loss_g.is_cuda
    torch.testing.assert_close(loss_g.cpu(), loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xg.grad.cpu(), x.grad, rtol=1e-5, atol=1e-5)
    logits_g = trex.prototype_logits(projector_gpu(xg), gpu_memory.prototypes(), TAU)
    torch.testing.assert_close(
        logits_g.cpu(), trex.prototype_logits(projector(x), memory.prototypes(), TAU), rtol=1e-5, atol=1e-5
    )


@cuda
def test_cuda_cpu_mix_is_refused_and_autocast_keeps_float32():
    _require_cuda()
    memory = trex.PrototypeMemory(8, DIM, CLASSES, device="cuda")
    before = snapshot(memory)
    with pytest.raises(trex.MemoryBankError, match="features is on cpu but the memory is on cuda:0"):
        memory.push(*_good())
    with pytest.raises(trex.MemoryBankError, match="labels is on cpu but the memory is on cuda:0"):
        memory.push(_good()[0].cuda(), _good()[1])
    assert_same_state(before, snapshot(memory))
    with pytest.raises(trex.MemoryBankError, match="prototypes is on cuda:0 but z is on cpu"):
        trex.prototype_logits(torch.randn(3, DIM), memory.prototypes(), TAU)
    memory.push(*(t.cuda() for t in _good()))
    z = torch.randn(6, DIM, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        logits = trex.prototype_logits(z.half(), memory.prototypes(), TAU)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, reference_logits(z.half(), memory.prototypes()), rtol=1e-5, atol=1e-5)
    # A checkpoint written on the GPU loads on the CPU bit for bit.
    cpu = trex.PrototypeMemory(8, DIM, CLASSES)
    cpu.load_state_dict(memory.state_dict())
    assert_same_state(snapshot(memory), snapshot(cpu))

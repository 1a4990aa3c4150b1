"""`MultiCropLoader`: decode each image once, cut all its crops, batch them, in Rust threads.

Batches are built in the background by a Rust thread pool with the GIL released, ``prefetch``
batches ahead, each crop written straight into its slot of a batch buffer that Rust owns. Python
gets each buffer as a tensor (``torch.frombuffer``); when the last tensor, view or NumPy array of
it is freed, the buffer goes back to the loader and a later batch is written into it. So memory
is reused without a page fault per batch, never while anything can still see it, and no Rust
thread ever frees, or waits for the GIL to free, a tensor that Python made.
Every random draw is keyed on (seed, epoch, sample index, crop index): the same seed gives
bit-identical batches whatever ``num_threads`` is, and a run resumed at an epoch sees the same data.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import operator
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Concatenate, Literal, ParamSpec, SupportsIndex, TypeVar, cast

import torch

from trex import _trex
from trex.constants import IMAGENET_MEAN, IMAGENET_STD, MAX_IMAGE_PIXELS
from trex.data.folder import scan_image_folder
from trex.data.recipes import PARAM_NAMES, MultiCropRecipe, create_recipe
from trex.exceptions import SkippedFileWarning

# The named options' values; the Rust core holds the one list of each (_trex.DTYPES, _trex.ON_ERRORS),
# and tests/test_loader.py checks that these types agree with it.
Dtype = Literal["uint8", "float32"]
OnError = Literal["raise", "skip"]
Source = str | os.PathLike[str] | Sequence[tuple[str | os.PathLike[str], int]]


@dataclass(frozen=True)
class LoaderSpec:
    """What a :class:`MultiCropLoader` is built from, but its samples: the recipe and every option.

    The one list of the loader's options (names, types, defaults): ``MultiCropLoader(source, ...)``
    takes exactly these arguments after ``source`` (see its docstring for what each does), keeps
    them as ``loader.spec`` and pickles them. A copy with the defaults that depend on the process
    resolved (the recipe object, threads, DDP rank) is what the Rust core reads, attribute by
    attribute (src/py/spec.rs). A new option is a field here, a field of the Rust
    ``LoaderConfig`` and the line of src/py/spec.rs that reads it.
    """

    batch_size: int = 64
    recipe: str | MultiCropRecipe = "trex"
    _: KW_ONLY
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = True
    num_threads: int | None = None
    prefetch: int = 2
    rank: int | None = None
    world_size: int | None = None
    dtype: Dtype = "uint8"
    pin_memory: bool = False
    on_error: OnError = "raise"
    return_params: bool = False
    global_size: int | None = None
    local_size: int | None = None
    max_pixels: int | None = MAX_IMAGE_PIXELS
    dct_scaling: bool = True
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    device: str | torch.device | None = None
    channels_last: bool = False
    resize_on_device: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))


_P = ParamSpec("_P")
_Self = TypeVar("_Self")


def _takes_spec(
    spec: Callable[_P, LoaderSpec],
) -> Callable[[Callable[[_Self, Source, LoaderSpec], None]], Callable[Concatenate[_Self, Source, _P], None]]:
    """Gives ``__init__(self, source, spec)`` the signature ``(self, source, *LoaderSpec's fields)``,
    for type checkers and ``help()`` alike: the options are listed once, in :class:`LoaderSpec`."""

    def decorate(init: Callable[[_Self, Source, LoaderSpec], None]) -> Callable[Concatenate[_Self, Source, _P], None]:
        def wrapper(self: _Self, source: Source, *args: _P.args, **kwargs: _P.kwargs) -> None:
            init(self, source, spec(*args, **kwargs))

        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(wrapper, name, getattr(init, name))
        params = list(inspect.signature(init).parameters.values())[:2]
        setattr(  # noqa: B010 (mypy: a function has no __signature__ attribute)
            wrapper,
            "__signature__",
            inspect.Signature(  # what help() and inspect show
                [*params, *inspect.signature(spec).parameters.values()], return_annotation=None
            ),
        )
        # `source` stays a keyword at run time, as it always was; type checkers see it positional.
        return cast(Callable[Concatenate[_Self, Source, _P], None], wrapper)

    return decorate


@dataclass
class Batch:
    """One batch of multi-crop views.

    Attributes:
        groups: one tensor per crop resolution, [n_crops * B, 3, H, W], crop-major (all samples'
            first crop, then all samples' second crop, ...), uint8 0-255 or normalised float32, CPU
            (with the loader's ``device``: normalised float32 on that device).
        crops: per-crop views into ``groups``, [B, 3, H, W] each, the global crop first.
        labels: int64 [B].
        indices: int64 [B], the dataset index of each sample.
        params: with ``return_params=True``, every sampled parameter per crop: a dict of tensors
            [n_crops, B] keyed by ``trex.data.recipes.PARAM_NAMES`` plus ``box`` [n_crops, B, 4]
            (top, left, height, width) and ``order`` [n_crops, B, 4] (colour-jitter order, 0-3 =
            brightness, contrast, saturation, hue); otherwise None.
    """

    groups: list[torch.Tensor]
    crops: list[torch.Tensor]
    labels: torch.Tensor
    indices: torch.Tensor
    params: dict[str, torch.Tensor] | None = None

    def to(self, device: torch.device | str, non_blocking: bool = True) -> Batch:
        """The batch on ``device`` (crops stay views of the moved groups)."""
        groups = [g.to(device, non_blocking=non_blocking) for g in self.groups]
        return Batch(
            groups,
            _split_crops(groups, self.labels.numel()),
            self.labels.to(device, non_blocking=non_blocking),
            self.indices.to(device, non_blocking=non_blocking),
            self.params,
        )


# Batches prepared ahead at most, decode threads at most (the Rust core's limits).
MAX_PREFETCH: int = _trex.MAX_PREFETCH
MAX_THREADS: int = _trex.MAX_THREADS
_MAX_BATCH_SIZE = 2**31


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = operator.index(cast(SupportsIndex, value))  # NumPy integers
        except TypeError:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _check_stats(name: str, values: Sequence[float], *, positive: bool) -> None:
    values = tuple(values)
    if len(values) != 3:
        raise ValueError(f"{name} must hold 3 values (one per channel), got {len(values)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise TypeError(f"{name} must hold real numbers, got {type(v).__name__}")
        f = float(v)
        if not math.isfinite(f) or (positive and f <= 0):
            raise ValueError(f"{name} {values} must be finite{' and positive' if positive else ''}")


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    """Three checked channel values (see _check_stats) as the extension takes them."""
    r, g, b = (float(v) for v in values)
    return r, g, b


def _sample(i: int, item: Any) -> tuple[str, int]:
    """The i-th (path, label) of a sample list, checked: a label is an integer >= 0."""
    try:
        path, label = item
    except (TypeError, ValueError):
        raise ValueError(f"sample {i} must be a (path, label) pair, got {item!r}") from None
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"sample {i}: path must be a str or os.PathLike, got {type(path).__name__}") from None
    if isinstance(label, bool) or not hasattr(label, "__index__"):
        raise ValueError(f"sample {i} ({path}): label {label!r} is not an integer")
    label = operator.index(label)
    if label < 0:
        raise ValueError(f"sample {i} ({path}): label {label} is negative; labels must be integers >= 0")
    if label >= 2**63:
        raise ValueError(f"sample {i} ({path}): label {label} does not fit in int64")
    return path, label


def _split_crops(groups: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    return [c for g in groups for c in g.split(batch_size)]


def _default_threads() -> int:
    # Inside DataLoader workers parallelism comes from the workers; one thread each.
    if torch.utils.data.get_worker_info() is not None:
        return 1
    env = os.environ.get("TREX_NUM_THREADS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"TREX_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _default_shard(rank: int | None, world_size: int | None) -> tuple[int, int]:
    dist = torch.distributed
    if rank is None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    if world_size is None:
        world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return rank, world_size


class MultiCropLoader:
    """Iterates multi-crop batches of an image dataset.

    Args:
        source: an ImageFolder root (one sub-folder per class), or a sequence of (path, label).
        batch_size: samples per batch (per rank).
        recipe: ``"trex"``, ``"trex-star"``, ``"dino"``, ``"dino-resnet50"``, ``"baseline"`` or a
            :class:`trex.MultiCropRecipe`.
        seed: keys every random draw; same seed, same batches.
        shuffle: reshuffle every epoch (keyed on seed and epoch).
        drop_last: drop the last incomplete batch (and the tail that does not split evenly across ranks).
        num_threads: decode/augment threads; default ``TREX_NUM_THREADS`` or all cores (1 inside
            DataLoader workers).
        prefetch: batches prepared ahead in the background, 1 to ``MAX_PREFETCH`` (64).
        rank, world_size: DDP shard; default from ``torch.distributed`` when initialised. Every rank
            gets the same number of batches.
        dtype: ``"uint8"`` (0-255; normalise on the device with :func:`trex.normalize`) or
            ``"float32"`` (normalised with ImageNet mean/std on the CPU).
        pin_memory: page-locked batches for fast asynchronous copies to a GPU.
        on_error: ``"raise"``: an unreadable file raises an error naming it; ``"skip"``: it is replaced
            by the next readable file in dataset order, listed once in :attr:`skipped` as
            (file, reason), warned about once, and every skip is counted in :attr:`skip_count`.
        return_params: attach every sampled crop parameter to the batches.
        global_size, local_size: override the recipe's crop sizes (e.g. 64 and 28 for small images).
        max_pixels: refuse images with more pixels (Pillow's limit by default); None for no limit.
        dct_scaling: decode JPEGs at 1/2, 1/4 or 1/8 scale when every crop of the image still
            downsamples from at least its output size (much faster on large photos).
        mean, std: normalisation for ``dtype="float32"`` (and for ``device``).
        device: None (default): the whole pipeline on the CPU, as above. ``"cuda"``, ``"cuda:N"`` or
            ``"cpu"`` (or a ``torch.device``): the Rust threads only decode and cut the crops
            (resized crop + flip); the colour stage (jitter, grayscale, blur, solarize, normalise)
            runs there as batched torch operations over each crop group, with every crop's own
            keyed draws, so the values equal the CPU path's. Batches then arrive on that device as
            normalised float32 (``dtype`` and ``pin_memory`` apply to the CPU path only); labels
            and indices too, params stay on the CPU. On CUDA the crops are staged in pinned memory
            and copied and processed on a side stream that the consuming stream waits for.
        channels_last: with ``device``, return the crop groups in channels_last memory format.
        resize_on_device: with ``device``, resample the crops there too: the Rust threads only
            decode (at the DCT scale chosen as above) and ship each batch's decoded images, uint8,
            in one buffer; every crop box (antialiased resampling, flip) is cut on the device from
            the CPU resampler's own filter taps in exact integer arithmetic, so the crops are
            the same bytes. Fewer CPU cycles per image, more bytes to copy: each batch in flight holds
            its decoded images whole (on the host and on the device), about 0.6 MB per image of
            ImageNet size, more for large photos that DCT scaling cannot reduce.

    Each ``iter(loader)`` runs one epoch: the epoch given to :meth:`set_epoch`, then the next one.
    The arguments after ``source`` are the fields of :class:`LoaderSpec` (the one list of them);
    ``loader.spec`` holds them as given.

    Raises:
        ValueError: a ``device`` that is not ``"cpu"``/``"cuda[:N]"``, or a CUDA device when none is
            available (nothing is started then); ``channels_last`` or ``resize_on_device`` without
            ``device``; fewer samples
            on this rank than one batch with ``drop_last=True`` (there would
            be no batch at all; the message gives both numbers), an option out of its range
            (``prefetch`` in [1, 64], ``num_threads`` in [1, 1024], crop sizes of at most
            ``trex.constants.MAX_OUTPUT_PIXELS`` pixels, at most 256 crops per image, ``std`` > 0,
            finite ``mean``), or a sample whose label is not an integer >= 0 (the message names
            the sample). Nothing is started then.
        TypeError: an option of the wrong type.

    Files are read only when they are regular files of at most ``trex.constants.MAX_FILE_BYTES``
    bytes with a JPEG or PNG signature; anything else (a FIFO, a device, a huge or non-image file)
    is refused without being read, as an unreadable file (``on_error`` decides).
    """

    @_takes_spec(LoaderSpec)
    def __init__(self, source: Source, spec: LoaderSpec) -> None:
        self.spec = spec  # the arguments as given (pickled): rebuilt elsewhere, defaults resolve there
        self._source = source
        batch_size, recipe, seed, drop_last = spec.batch_size, spec.recipe, spec.seed, spec.drop_last
        pin_memory, mean, std = spec.pin_memory, spec.mean, spec.std
        self.device = _check_device(spec.device, spec.channels_last, spec.resize_on_device)
        self.classes: list[str] | None  # the class folder names (None for a list of samples)
        if isinstance(source, (str, os.PathLike)):
            self.samples, self.classes = scan_image_folder(source)
        else:
            self.samples = [_sample(i, item) for i, item in enumerate(source)]
            self.classes = None
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)} if self.classes else None
        self.recipe = create_recipe(recipe, global_size=spec.global_size, local_size=spec.local_size)
        self.batch_size = batch_size
        self.rank, self.world_size = _default_shard(spec.rank, spec.world_size)
        self.num_threads = _default_threads() if spec.num_threads is None else spec.num_threads
        if pin_memory and not torch.cuda.is_available():
            warnings.warn("pin_memory=True but no CUDA device is available; batches are not pinned", stacklevel=2)
            pin_memory = False
        _check_int("batch_size", batch_size, 1, _MAX_BATCH_SIZE)
        _check_int("num_threads", self.num_threads, 1, MAX_THREADS)
        _check_int("seed", seed, 0, 2**64 - 1)
        _check_int("prefetch", spec.prefetch, 1, MAX_PREFETCH)
        _check_int("world_size", self.world_size, 1, 2**31)
        _check_int("rank", self.rank, 0, self.world_size - 1)
        if spec.max_pixels is not None:
            _check_int("max_pixels", spec.max_pixels, 1, 2**64 - 1)
        # As the core counts them (DistributedSampler's rule): with drop_last each rank sees
        # len // world_size samples and drops a partial batch, so fewer than one batch means none.
        shard = len(self.samples) // self.world_size
        if drop_last and shard < batch_size:
            on_rank = (
                f" (this rank's shard of {len(self.samples)} over {self.world_size} ranks)"
                if self.world_size > 1
                else ""
            )
            raise ValueError(
                f"{shard} samples{on_rank} are fewer than one batch of {batch_size}, so drop_last=True "
                "would give no batch at all; lower batch_size or pass drop_last=False"
            )
        for name, values in (("mean", mean), ("std", std)):
            _check_stats(name, values, positive=name == "std")
        self.dtype = spec.dtype if self.device is None else "float32"
        self.return_params = spec.return_params
        self.skipped: list[tuple[str, str]] = []
        self.skip_count = 0
        self._epoch = 0
        paths = [p for p, _ in self.samples]
        labels = [label for _, label in self.samples]
        # What the core reads: the spec with every default resolved. With a device, pinning is
        # the colour stage's (CUDA: always); pin_memory is for the CPU path.
        pin_memory = pin_memory and self.device is None
        resolved = dataclasses.replace(
            spec,
            recipe=self.recipe,
            global_size=None,
            local_size=None,
            num_threads=self.num_threads,
            rank=self.rank,
            world_size=self.world_size,
            pin_memory=pin_memory,
            mean=_rgb(mean),
            std=_rgb(std),
            device=None if self.device is None else str(self.device),
        )
        pin_device = torch.cuda.current_device() if pin_memory else None
        self._inner = _trex.Loader(paths, labels, resolved, pin_device=pin_device)
        # CUDA: the copy and the colour stage run on this side stream (see _device_batch).
        self._side_stream = (
            torch.cuda.Stream(self.device) if self.device is not None and self.device.type == "cuda" else None
        )

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return len(self._inner)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration will run."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch of the next iteration (as DistributedSampler.set_epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch = int(epoch)

    def epoch_indices(self, epoch: int) -> list[list[int]]:
        """This rank's dataset indices for ``epoch``, per batch."""
        return self._inner.epoch_batches(epoch)

    def __iter__(self) -> Iterator[Batch]:
        if self.device is not None and self.device.type == "cuda" and torch.cuda._is_in_bad_fork():
            # CUDA cannot be used in a child forked after the parent used it (a DataLoader worker):
            # say so here, before the device stage's first call fails deep in the driver.
            raise RuntimeError(
                f"MultiCropLoader(device={str(self.device)!r}) cannot run in a forked process (a DataLoader "
                "worker?): iterate it directly in the training process, it runs its own threads"
            )
        epoch = self._epoch
        self._epoch += 1
        stream = self._inner.iter_epoch(epoch)
        return self._iterate(stream)

    def _iterate(self, stream: Any) -> Iterator[Batch]:
        try:
            while True:
                item = stream.next_batch() if self.device is None else self._device_batch(stream)
                if item is None:
                    return
                batch = self._batch(*item)
                del item  # only the user's references keep a batch's buffers from going back
                yield batch
                del batch
        finally:
            # Early break, an exception in the consumer, Ctrl-C or garbage collection: stop the
            # producer thread now rather than when the stream is collected.
            stream.close()

    def _device_batch(self, stream: Any) -> Any:
        """The next batch with the device colour stage: on CUDA its kernels and copies are queued
        on the side stream, and the caller's current stream waits for them."""
        if self._side_stream is None:
            item = stream.next_batch()
            if item is None:
                return None
            groups, labels, indices, params, skipped = item
            return groups, labels.to(self.device), indices.to(self.device), params, skipped
        # The side stream does not wait for the training step queued before this call (that would
        # serialise them); memory safety across the two streams comes from record_stream below.
        current = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._side_stream):
            item = stream.next_batch()
            if item is None:
                return None
            groups, labels, indices, params, skipped = item
            labels = labels.pin_memory().to(self.device, non_blocking=True)
            indices = indices.pin_memory().to(self.device, non_blocking=True)
        current.wait_stream(self._side_stream)
        for t in (*groups, labels, indices):
            t.record_stream(current)
        return groups, labels, indices, params, skipped

    def _batch(
        self,
        groups: list[torch.Tensor],
        labels: torch.Tensor,
        indices: torch.Tensor,
        params: torch.Tensor | None,
        skipped: list[tuple[str, str]],
    ) -> Batch:
        for path, reason in skipped:
            self.skip_count += 1
            if all(path != p for p, _ in self.skipped):
                self.skipped.append((path, reason))
                warnings.warn(f"skipped unreadable file {path}: {reason}", SkippedFileWarning, stacklevel=3)
        return Batch(
            groups,
            _split_crops(groups, labels.numel()),
            labels,
            indices,
            _params_dict(params) if params is not None else None,
        )

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs: the next epoch and the files skipped so far."""
        return {
            "epoch": self._epoch,
            "seed": self.spec.seed,
            "skipped": list(self.skipped),
            "skip_count": self.skip_count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("seed", self.spec.seed) != self.spec.seed:
            raise ValueError(f"state is from a loader with seed {state['seed']}, this one has {self.spec.seed}")
        self.set_epoch(state["epoch"])
        self.skipped = [tuple(s) for s in state.get("skipped", [])]
        self.skip_count = int(state.get("skip_count", len(self.skipped)))

    @property
    def _args(self) -> dict[str, Any]:
        """The arguments as given, by name (``source`` and the spec's fields)."""
        return {"source": self._source, **{f.name: getattr(self.spec, f.name) for f in dataclasses.fields(self.spec)}}

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (spawned DataLoader workers, multiprocessing): rebuilt from its arguments.
        return (_rebuild, (self._args, self.state_dict()))

    def __repr__(self) -> str:
        return (
            f"MultiCropLoader({len(self.samples)} images, recipe={self.recipe.name!r}, "
            f"batch_size={self.batch_size}, crops={self.recipe.num_crops}, threads={self.num_threads}, "
            f"rank={self.rank}/{self.world_size}, dtype={self.dtype!r}"
            + (f", device={str(self.device)!r})" if self.device is not None else ")")
        )


def _check_device(device: str | torch.device | None, channels_last: bool, resize: bool) -> torch.device | None:
    """The device of the colour stage, checked before anything starts (None: the CPU path)."""
    for name, flag in (("channels_last", channels_last), ("resize_on_device", resize)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if device is None:
        if channels_last:
            raise ValueError("channels_last=True needs a device (it is the device colour stage's output format)")
        if resize:
            raise ValueError("resize_on_device=True needs a device (the one the crops are resampled on)")
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None, a str or a torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} but CUDA is not available (torch sees no GPU)")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={str(device)!r} but there are only {torch.cuda.device_count()} CUDA devices")
        dev = torch.device("cuda", index)
    return dev


def _rebuild(args: dict[str, Any], state: dict[str, Any]) -> MultiCropLoader:
    options = dict(args)
    loader = MultiCropLoader(options.pop("source"), **options)
    loader.load_state_dict(state)
    return loader


# Where the crop box and the jitter order sit in a params row (the core's order, _trex.CROP_PARAMS).
_BOX = slice(PARAM_NAMES.index("top"), PARAM_NAMES.index("width") + 1)
_ORDER = slice(PARAM_NAMES.index("order0"), PARAM_NAMES.index("order3") + 1)


def _params_dict(params: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {}
    for i, (name, kind) in enumerate(_trex.CROP_PARAMS):
        column = params[..., i]
        out[name] = column.long() if kind == "int" else column.bool() if kind == "bool" else column
    out["box"] = params[..., _BOX].long()
    out["order"] = params[..., _ORDER].long()
    return out


__all__ = ["Batch", "LoaderSpec", "MultiCropLoader"]

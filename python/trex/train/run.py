"""`trex train`: t-ReX, t-ReX* or the supervised baseline, end to end, on one CPU, one GPU or many
processes under ``torchrun``. :func:`run` reads top to bottom in stages."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import trex
from trex.train import checkpoint as ckpt
from trex.train import files
from trex.train.backbones import create_backbone
from trex.train.config import TrainConfig, available_cores, default_out, default_threads, val_resize
from trex.train.data import create_train_loader, load_splits
from trex.train.distributed import Dist, all_mean, average_batchnorm_stats, init_distributed, shutdown
from trex.train.epoch import check_finite_model, train_one_epoch
from trex.train.errors import TrainConfigError
from trex.train.evaluate import EvalImages, evaluate
from trex.train.optim import create_optimizer, lr_schedule
from trex.train.precision import resolve_precision
from trex.train.report import Progress, plot_metrics, read_metrics, write_metrics

log = logging.getLogger("trex.train")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _device_kind(cfg: TrainConfig) -> str:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainConfigError("--device cuda: no CUDA device is available; use --device cpu")
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


def _classifier(model: trex.TReX) -> str:
    """What the model's classifier is, in words (for the log)."""
    memory = getattr(model.head, "memory", None)
    if memory is not None:
        return f"memory prototypes ({memory.size} entries)"
    return "learned cosine classifier" if isinstance(model.head, trex.PrototypeHead) else "linear classifier"


def _restore(path: Path, what: str, load: Callable[[], Any]) -> None:
    """Loads one part of a checkpoint's state, turning a damaged or foreign entry into one clear error."""
    try:
        load()
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TrainConfigError(
            f"--resume {path}: the checkpoint's {what} state cannot be restored ({reason}); "
            "the file is damaged or was not written by `trex train`; resume from another "
            "checkpoint"
        ) from err


def _save_backbone(
    out: Path, model: trex.TReX, cfg: TrainConfig, feature_dim: int, classes: list[str], epoch: int
) -> None:
    ckpt.save_backbone(
        model.backbone,
        out,
        arch=cfg.arch,
        feature_dim=feature_dim,
        recipe=cfg.recipe,
        epoch=epoch,
        image_size=cfg.global_size,
        classes=classes,
        crops=cfg.crop_recipe,
        projector_layers=cfg.head_projector_layers,
    )


def _repair_run_files(
    out: Path,
    model: trex.TReX,
    records: list[dict[str, Any]],
    epoch: int,
    cfg: TrainConfig,
    feature_dim: int,
    classes: list[str],
) -> None:
    """On a resume in the run's own folder: makes backbone.pt and metrics.jsonl those of the resumed
    checkpoint when a kill left them at another epoch (they are written apart from it)."""
    if epoch > 0 and ckpt.backbone_epoch(out / ckpt.BACKBONE) != epoch:
        log.info(
            "%s is not the checkpoint's epoch %d (an interrupted run): rewritten from the checkpoint",
            out / ckpt.BACKBONE,
            epoch,
        )
        _save_backbone(out, model, cfg, feature_dim, classes, epoch)
    if _read_metrics_or_none(out / ckpt.METRICS) != records:
        write_metrics(out / ckpt.METRICS, records)


def _read_metrics_or_none(path: Path) -> list[dict[str, Any]] | None:
    try:
        return read_metrics(path)
    except (OSError, ValueError):
        return None


def run(cfg: TrainConfig) -> dict[str, Any]:
    """Trains as ``cfg`` says and returns the last epoch's metrics (with the output paths).

    Raises:
        TrainConfigError: bad data folder, flag or checkpoint (the message says what to do).
        NonFiniteLossError: the loss diverged.
    """
    dist, device = init_distributed(_device_kind(cfg))
    threads = torch.get_num_threads()
    try:
        return _train(cfg, dist, device)
    finally:
        torch.set_num_threads(threads)  # run() may be called from a longer-lived process
        shutdown()


def _train(cfg: TrainConfig, dist: Dist, device: torch.device) -> dict[str, Any]:
    # ---------------------------------------------------------------- setup
    if not dist.is_main:
        log.setLevel(logging.WARNING)
    threads = cfg.threads or default_threads(dist.local_world_size)
    workers = cfg.workers or threads
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    cuda = device.type == "cuda"
    precision = resolve_precision(cfg.amp, device)
    resume_path = ckpt.resolve_resume(cfg.resume) if cfg.resume else None
    out = Path(cfg.out) if cfg.out else (resume_path.parent if resume_path else default_out(cfg))
    # Refused before any work, nothing created yet (read-only checks: every rank makes them, so
    # that all stop together).
    files.check_out_dir(out)
    ckpt.check_no_other_run(out, resume_path, cfg.overwrite)
    local = dist.local_world_size
    rule = (
        "--threads"
        if cfg.threads
        else f"{available_cores()} cores available / {local} local process{'es' if local > 1 else ''}"
    )
    log.info(
        "trex %s (git %s), torch %s, %s x%d, %d torch threads (%s) and %d loader threads per process "
        "(machine load %.1f), precision %s",
        trex.__version__,
        _git_sha(),
        torch.__version__,
        device.type,
        dist.world_size,
        threads,
        rule,
        workers,
        os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
        precision.name,
    )

    # ---------------------------------------------------------------- data
    splits = load_splits(cfg, dist, workers)
    if len(splits.train) // dist.world_size < cfg.batch_size:  # the loader's own rule, said in flags
        raise TrainConfigError(
            f"{len(splits.train)} training images are fewer than one batch of "
            f"{cfg.batch_size} x {dist.world_size} processes; lower --batch-size"
        )
    loader = create_train_loader(cfg, splits, dist, workers, pin_memory=cuda)
    val_images = EvalImages(
        splits.val,
        val_resize(cfg),
        cfg.global_size,
        cfg.batch_size,
        workers,
        dist.rank,
        dist.world_size,
        on_error=cfg.on_error,
    )
    log.info(
        "data: %d training images (%s), %d validation images, %d classes, %d steps per epoch, crops %s",
        len(splits.train),
        splits.train_root,
        len(splits.val),
        len(splits.classes),
        len(loader),
        " + ".join(f"{n}x{size[0]}" for size, n in loader.recipe.outputs),
    )

    # ---------------------------------------------------------------- model
    backbone, feature_dim = create_backbone(cfg.arch)
    model = trex.TReX(
        backbone,
        len(splits.classes),
        cfg.recipe,
        feature_dim=feature_dim,
        projector_layers=cfg.projector_layers,
        hidden_dim=cfg.hidden_dim,
        out_dim=cfg.out_dim,
        memory_size=cfg.memory_size,
        temperature=cfg.temperature,
        ema_momentum=cfg.ema_momentum,
        memory_init=cfg.memory_init or "empty",
    )
    if dist.enabled and cuda:
        nn.SyncBatchNorm.convert_sync_batchnorm(model.head)  # in place: the head is no BatchNorm itself
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    log.info(
        "model: %s backbone (%d features, %.1fM parameters), recipe %s, crops %s, %s, %s",
        cfg.arch,
        feature_dim,
        sum(p.numel() for p in model.backbone.parameters()) / 1e6,
        cfg.recipe,
        cfg.crop_recipe,
        f"projector {cfg.head_projector_layers} hidden layers" if cfg.head_projector_layers else "no projector",
        _classifier(model),
    )

    # ---------------------------------------------------------------- loss
    # The loss lives in the model: cross-entropy over every crop against the memory's prototypes
    # (t-ReX, t-ReX*) or the linear classifier (baseline); trex.TReX.forward returns it.

    # ---------------------------------------------------------------- optimizer
    total_batch = cfg.batch_size * dist.world_size
    base_lr = cfg.lr * total_batch / 256
    optimizer = create_optimizer(model, base_lr, cfg.momentum, cfg.weight_decay)
    scaler = precision.grad_scaler()

    # ---------------------------------------------------------------- schedules (per iteration)
    steps_per_epoch = len(loader)
    lr_curve = lr_schedule(
        base_lr, cfg.min_lr, cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)
    )

    # ---------------------------------------------------------------- resume
    start_epoch, records = 0, []
    if resume_path is not None:
        state = ckpt.load_checkpoint(
            resume_path,
            recipe=cfg.recipe,
            arch=cfg.arch,
            classes=splits.classes,
            crops=cfg.crop_recipe,
            projector_layers=cfg.head_projector_layers,
        )
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:  # shapes differ: other --hidden-dim / --out-dim / --memory-size
            raise TrainConfigError(
                f"--resume {resume_path}: the checkpoint does not fit this model "
                f"({str(err).splitlines()[-1].strip()}); use the run's settings, see its "
                "config.json"
            ) from err
        _restore(resume_path, "optimizer", lambda: optimizer.load_state_dict(state["optimizer"]))
        _restore(resume_path, "scaler", lambda: scaler.load_state_dict(state["scaler"]))
        _restore(resume_path, "loader", lambda: loader.load_state_dict(state["loader"]))
        _restore(resume_path, "rng", lambda: torch.set_rng_state(state["rng"]))
        start_epoch, records = state["epoch"], list(state["metrics"])
        changed = sorted(
            k
            for k, v in state["config"].items()
            if k not in ("resume", "out", "overwrite") and cfg.to_json().get(k) != v
        )
        log.info(
            "resumed from %s after epoch %d%s",
            resume_path,
            start_epoch,
            f" (changed settings: {', '.join(changed)})" if changed else "",
        )
    step_model: nn.Module = model
    if dist.enabled:
        # Buffers are not broadcast at every step: the memory is the same on every rank already
        # (its rows are gathered), and BatchNorm statistics are averaged at the end of each epoch.
        step_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if cuda else None, broadcast_buffers=False
        )
    if dist.is_main:
        files.make_out_dir(out)
        stale = files.remove_stale_tmp(out)
        if stale:
            log.info("removed %d temporary files of an interrupted run in %s: %s", len(stale), out, ", ".join(stale))
        files.write_text(
            out / files.CONFIG,
            json.dumps(
                {
                    **cfg.to_json(),
                    "resolved": {
                        "out": str(out),
                        "base_lr": base_lr,
                        "total_batch": total_batch,
                        "world_size": dist.world_size,
                        "threads": threads,
                        "workers": workers,
                        "precision": precision.name,
                        "classes": splits.classes,
                        "git": _git_sha(),
                    },
                },
                indent=2,
            )
            + "\n",
        )
        if resume_path is not None and out.resolve() == resume_path.parent.resolve():
            _repair_run_files(out, model, records, start_epoch, cfg, feature_dim, splits.classes)

    # ---------------------------------------------------------------- epoch loop
    result: dict[str, Any] = records[-1] if records else {}
    if start_epoch >= cfg.epochs:
        log.info("nothing to do: the checkpoint has %d epochs, --epochs is %d", start_epoch, cfg.epochs)
    for epoch in range(start_epoch, cfg.epochs):
        loader.set_epoch(epoch)
        progress = Progress(epoch + 1, cfg.epochs, steps_per_epoch, enabled=dist.is_main, log_every_s=cfg.log_every_s)
        train = train_one_epoch(
            model,
            step_model,
            loader,
            optimizer,
            scaler,
            lr_curve,
            epoch * steps_per_epoch,
            device,
            precision,
            progress,
            channels_last=cuda,
        )
        speed = progress.summary()
        average_batchnorm_stats(model)
        val = evaluate(model, val_images, device, precision, channels_last=cuda)
        check_finite_model(model, val["val_loss"], epoch + 1)  # before anything of it is written
        train_loss, images_per_s = all_mean([train["train_loss"], speed["images_per_s"]], device)
        result = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            **val,
            "lr": train["lr"],
            "images_per_s": images_per_s * dist.world_size,
            "data_wait": speed["data_wait"],
            "epoch_time_s": speed["epoch_time_s"],
        }
        records.append(result)
        log.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f, val top-1 %.2f%%, %.0f img/s, data-wait %.0f%%",
            epoch + 1,
            cfg.epochs,
            train_loss,
            val["val_loss"],
            val["val_top1"],
            result["images_per_s"],
            100 * speed["data_wait"],
        )

        # ------------------------------------------------------------ checkpoint and logs
        if dist.is_main:
            write_metrics(out / ckpt.METRICS, records)
            plot_metrics(
                records,
                lr_curve,
                steps_per_epoch,
                out / files.CURVES,
                f"{cfg.recipe} / {cfg.arch}: {len(splits.classes)} classes, batch {total_batch}",
            )
            # The backbone first, the checkpoint last: a run killed in between holds a backbone ahead
            # of the checkpoint, which --resume repeats the epoch for (and rewrites).
            _save_backbone(out, model, cfg, feature_dim, splits.classes, epoch + 1)
            keep = cfg.save_every > 0 and (epoch + 1) % cfg.save_every == 0
            ckpt.save_checkpoint(
                {
                    "epoch": epoch + 1,
                    "config": cfg.to_json(),
                    "classes": splits.classes,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "loader": loader.state_dict(),
                    "rng": torch.get_rng_state(),
                    "metrics": records,
                },
                out,
                keep_copy=keep,
            )

    if cfg.dump_rank_state:
        Path(cfg.dump_rank_state).mkdir(parents=True, exist_ok=True)
        torch.save(
            {k: v.detach().cpu() for k, v in model.state_dict().items()},
            Path(cfg.dump_rank_state) / f"rank{dist.rank}.pt",
        )
    paths = {
        "out": str(out),
        "checkpoint": str(out / ckpt.CHECKPOINT),
        "backbone": str(out / ckpt.BACKBONE),
        "plot": str(out / files.CURVES),
        "metrics": str(out / ckpt.METRICS),
    }
    return {**result, **paths}


__all__ = ["run"]

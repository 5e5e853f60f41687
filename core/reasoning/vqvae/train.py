"""Training of the VQ-VAE models from a JSON-serialisable :class:`TrainConfig`.

The recipe that avoids the seed's collapse (one code per head): a warm-up without
quantization, k-means initialisation of the codebooks from encoder outputs, dead-code
restarts, a (1 - cos) reconstruction term and a one-cycle learning rate; optionally a
refit stage on ICM-searched codes with weight averaging (:mod:`.refit`).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass, fields

import numpy as np
import torch

from core._io import atomic_write_text, read_config
from core._validation import check_embeddings
from core.reasoning.vqvae.diverged import check_loss, check_weights, overflow_is_divergence
from core.reasoning.vqvae.loss import VQVAELoss
from core.reasoning.vqvae.model import MonolithV13
from core.reasoning.vqvae.model_wiki import MonolithWiki
from core.reasoning.vqvae.refit import refit

MODELS = {"MonolithWiki": MonolithWiki, "MonolithV13": MonolithV13}
MAX_SEED = 2**64 - 1  # torch's generators take 64 bits


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved as JSON beside the weights.

    Examples
    --------
    >>> cfg = TrainConfig.from_dict({"epochs": 3, "seed": 1})
    >>> cfg.epochs, cfg.model
    (3, 'MonolithWiki')
    >>> TrainConfig.from_dict({"epoch": 3})
    Traceback (most recent call last):
    ...
    ValueError: unknown TrainConfig key(s) ['epoch']; valid keys: ...
    """

    model: str = "MonolithWiki"
    input_dim: int = 384
    hidden_dim: int = 1024
    latent_dim: int = 512
    num_heads: int = 4
    codebook_size: int = 256
    dropout: float = 0.1
    epochs: int = 40
    warmup_epochs: int = 1          # epochs without quantization before k-means init
    batch_size: int = 256
    learning_rate: float = 2e-3     # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    lr_schedule: str = "onecycle"   # or "constant"
    input_noise: float = 0.0        # std of Gaussian noise added to inputs (regulariser)
    kmeans_init: bool = True
    kmeans_samples: int = 20000
    kmeans_iters: int = 20
    dead_code_threshold: float = 0.02  # moving-average uses per batch below which a code restarts
    usage_decay: float = 0.99
    ema_update: bool = False
    normalize: bool = False         # heads: cosine-similarity codebooks; residual: latent norm fixed to sqrt(dim)
    latent_norm: bool = False       # MonolithWiki: affine-free BatchNorm on the encoder's latent
    quantizer: str = "heads"        # MonolithWiki: "heads" (product) or "residual" (num_heads stages, full width)
    recon_weight: float = 1.0
    cosine_weight: float = 1.0
    codebook_weight: float = 1.0
    commitment_weight: float = 0.25
    orthogonal_weight: float = 0.01
    keep_best: bool = True          # restore the epoch with the best validation cosine
    refit_epochs: int = 0           # then epochs fitting decoder + codebooks to ICM-searched codes (refit.py)
    refit_learning_rate: float = 3e-4
    refit_refresh: int = 10         # re-search the training codes every this many refit epochs
    refit_candidates: int = 16      # ICM candidates per head in that search
    seed: int = 0
    num_threads: int = 1            # 2 threads ran 20x slower than 1 on a busy 2-core machine

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming every bad field."""
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
            if isinstance(value, bool) and f.type != "bool" or not isinstance(value, expected):
                problems.append(f"{f.name}={value!r} should be {f.type}")
        problems += [f"{f.name}={getattr(self, f.name)!r} must be a finite number" for f in fields(self)
                     if f.type == "float" and isinstance(getattr(self, f.name), (int, float))
                     and not math.isfinite(getattr(self, f.name))]  # NaN passed `<= 0`
        if problems:
            raise ValueError("bad TrainConfig value(s): " + "; ".join(problems))
        positive = ["input_dim", "hidden_dim", "latent_dim", "num_heads", "codebook_size", "epochs",
                    "batch_size", "learning_rate", "kmeans_samples", "kmeans_iters", "num_threads",
                    "refit_learning_rate", "refit_refresh", "refit_candidates"]
        problems += [f"{name}={getattr(self, name)!r} must be > 0" for name in positive
                     if getattr(self, name) <= 0]
        non_negative = ["warmup_epochs", "refit_epochs", "weight_decay", "input_noise", "dead_code_threshold",
                        "recon_weight", "cosine_weight", "codebook_weight", "commitment_weight",
                        "orthogonal_weight"]
        problems += [f"{name}={getattr(self, name)!r} must be >= 0" for name in non_negative
                     if getattr(self, name) < 0]
        if self.model not in MODELS:
            problems.append(f"model={self.model!r} must be one of {sorted(MODELS)}")
        if self.quantizer not in ("heads", "residual"):
            problems.append(f"quantizer={self.quantizer!r} must be 'heads' or 'residual'")
        elif self.quantizer == "residual" and self.model != "MonolithWiki":
            problems.append("quantizer='residual' needs model='MonolithWiki'")
        if self.lr_schedule not in ("onecycle", "constant"):
            problems.append(f"lr_schedule={self.lr_schedule!r} must be 'onecycle' or 'constant'")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout={self.dropout!r} must be in [0, 1)")
        if not 0 < self.usage_decay < 1:
            problems.append(f"usage_decay={self.usage_decay!r} must be in (0, 1)")
        if self.latent_dim % self.num_heads:
            problems.append(f"latent_dim={self.latent_dim} must be divisible by num_heads={self.num_heads}")
        if not 2 <= self.codebook_size <= 65_536:  # 1 failed after the data was read, naming num_embeddings
            problems.append(f"codebook_size={self.codebook_size} must lie in [2, 65536] (codes are uint8 "
                            f"up to 256, uint16 up to 65536)")
        if not 0 <= self.seed <= MAX_SEED:  # -1: numpy's "expected non-negative integer"; 2**64: torch's "Overflow"
            problems.append(f"seed={self.seed} must lie in [0, 2**64 - 1]")
        if self.warmup_epochs >= self.epochs:
            problems.append(f"warmup_epochs={self.warmup_epochs} must be < epochs={self.epochs}")
        if problems:
            raise ValueError("bad TrainConfig value(s): " + "; ".join(problems))
        return self

    # -- JSON ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ValueError(f"a TrainConfig must be a JSON object, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:  # the repository's vqvae_config.json is the compression pipeline's: it is the one at hand
            hint = "; this is a `mycelial pipeline --config` file (vqvae_config.json), not a training config" \
                if {"vqvae_epochs", "artifacts_dir"} & set(unknown) else ""
            raise ValueError(f"unknown TrainConfig key(s) {unknown}{hint}; valid keys: {valid}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "TrainConfig":
        return cls.from_dict(read_config(path, "training config"))  # a key given twice: the last was kept silently

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def model_kwargs(self) -> dict:
        kw = dict(input_dim=self.input_dim, hidden_dim=self.hidden_dim, latent_dim=self.latent_dim,
                  num_heads=self.num_heads, codebook_size=self.codebook_size)
        if self.model == "MonolithWiki":
            kw.update(dropout=self.dropout, commitment_weight=self.commitment_weight,
                      kmeans_init=self.kmeans_init, dead_code_threshold=self.dead_code_threshold,
                      usage_decay=self.usage_decay, ema_update=self.ema_update,
                      normalize=self.normalize)
            if self.quantizer != "heads":
                kw["quantizer"] = self.quantizer
            if self.latent_norm:
                kw["latent_norm"] = True
        return kw


def build_model(config: TrainConfig):
    """A fresh model of ``config.model`` with the configured sizes."""
    return MODELS[config.model](**config.model_kwargs())


@torch.no_grad()
def _evaluate(model, X: torch.Tensor, batch_size: int = 4096) -> dict:
    model.eval()
    cos, mse, codes = [], [], []
    for start in range(0, X.shape[0], batch_size):
        xb = X[start:start + batch_size]
        idx = model.encode_indices(xb)
        rec = model.decode_indices(idx)
        cos.append(torch.nn.functional.cosine_similarity(rec, xb, dim=-1))
        mse.append((rec - xb).pow(2).mean(-1))
        codes.append(idx)
    codes = torch.cat(codes)
    used = sum(int(torch.unique(codes[:, h]).numel()) for h in range(codes.shape[1]))
    return {"cosine": float(torch.cat(cos).mean()), "mse": float(torch.cat(mse).mean()),
            "codes_used": used}


@torch.no_grad()
def _kmeans_init(model, X: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> None:
    model.eval()
    take = torch.randperm(X.shape[0], generator=generator)[:config.kmeans_samples]
    z = torch.cat([model.encoder(X[take[s:s + 4096]]) for s in range(0, take.numel(), 4096)])
    # init_codebook_ applies the quantizer's own normalisation
    model.quantizer.init_codebook_(z, num_iters=config.kmeans_iters, generator=generator)


def _loss(config: TrainConfig) -> VQVAELoss:
    return VQVAELoss(config.recon_weight, config.cosine_weight, config.codebook_weight,
                     config.commitment_weight, config.orthogonal_weight)


@contextlib.contextmanager
def _threads(n: int):
    """torch's thread count set to ``n`` for the block, then restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_scale(X: np.ndarray, name: str) -> np.ndarray:
    """Values the codec's encode refuses (beyond 1e15) trained a model of garbage at a loss of 1e33, without a word."""
    from core.reasoning.mycelial.wrapper import MAX_ABS

    big = max(float(X.max()), -float(X.min()))
    if big > MAX_ABS:
        raise ValueError(f"{name} holds a value of {big:.3g}; the codec reads unit-length rows and values beyond "
                         f"{MAX_ABS:g} overflow it: normalise them first")
    return X


def train_vqvae(X_train, config: TrainConfig | dict | None = None, X_val=None, progress: bool = True):
    """Train a VQ-VAE on sentence embeddings.

    Parameters
    ----------
    X_train : array-like of shape (n, input_dim)
        Unit-norm sentence embeddings (numpy or torch).
    config : TrainConfig or dict, optional
        Defaults to ``TrainConfig()``.
    X_val : array-like of shape (m, input_dim), optional
        Held-out embeddings: validation cosine/MSE/code usage per epoch, and the epoch
        kept when ``config.keep_best``.
    progress : bool, default=True
        Show a tqdm bar.

    Returns
    -------
    model : MonolithWiki or MonolithV13, in eval mode
    history : list of dict
        One entry per epoch: mean loss terms, learning rate, and ``val_*`` figures.

    Notes
    -----
    Deterministic for a given ``config.seed`` and ``config.num_threads``.
    """

    if config is None:
        config = TrainConfig()
    elif isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    X_train = torch.from_numpy(_check_scale(check_embeddings(X_train, config.input_dim, "X_train"), "X_train"))
    if X_train.shape[0] < config.codebook_size:
        raise ValueError(f"X_train has {X_train.shape[0]} rows; need at least "
                         f"codebook_size={config.codebook_size} to initialise the codebooks")
    if X_val is not None:
        X_val = torch.from_numpy(_check_scale(check_embeddings(X_val, config.input_dim, "X_val"), "X_val"))

    with _threads(config.num_threads):
        return _train(X_train, X_val, config, progress)


def _train(X_train: torch.Tensor, X_val, config: TrainConfig, progress: bool):
    """Guts of :func:`train_vqvae`; inputs are validated."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = build_model(config)
    loss_fn = _loss(config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    n = X_train.shape[0]
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    total = config.epochs * steps_per_epoch
    # OneCycleLR divides by zero at 2 steps in all (2 epochs of one batch: batch_size >= the rows)
    if config.lr_schedule == "onecycle" and total > 2:
        # pct_start below 2 steps makes OneCycleLR divide by zero on tiny runs
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate, total_steps=total,
                                                    pct_start=min(0.5, max(0.1, 2.5 / total)))
    else:
        sched = None

    history, best = [], (-np.inf, None)
    bar = tqdm(range(config.epochs), desc="train vqvae", disable=not progress, unit="epoch")
    for epoch in bar:
        quantize = epoch >= config.warmup_epochs
        if quantize and config.kmeans_init and (epoch == config.warmup_epochs or not bool(model.quantizer.initted)):
            _kmeans_init(model, X_train, config, generator)
        model.train()
        perm = torch.randperm(n, generator=generator)
        sums = dict.fromkeys(("total", "recon", "cosine", "codebook", "commitment", "orthogonal"), 0.0)
        for start in range(0, n, config.batch_size):
            xb = X_train[perm[start:start + config.batch_size]]
            inp = xb + config.input_noise * torch.randn(xb.shape, generator=generator) if config.input_noise else xb
            recon, _, z_e, z_q = model(inp, quantize=quantize)
            if quantize:
                # the orthogonal term only acts on gradient-trained codebooks
                books = model.quantizer.codebooks if model.quantizer.codebooks.requires_grad else None
                terms = loss_fn(xb, recon, z_e, z_q, books)
            else:
                terms = loss_fn(xb, recon, z_e, z_e.detach())
            check_loss(terms.total.item(), epoch, "learning_rate", config.learning_rate)
            opt.zero_grad(set_to_none=True)
            terms.total.backward()
            with overflow_is_divergence(epoch, "learning_rate", config.learning_rate):
                opt.step()
            if sched is not None:
                sched.step()
            for key in sums:
                sums[key] += getattr(terms, key).item() * xb.shape[0]
        check_weights(model, epoch, "learning_rate", config.learning_rate)  # before the next k-means reads them
        record = {"epoch": epoch, "quantized": quantize, "lr": opt.param_groups[0]["lr"]}
        record.update({f"train_{k}": v / n for k, v in sums.items()})
        if X_val is not None and quantize:
            record.update({f"val_{k}": v for k, v in _evaluate(model, X_val).items()})
            if config.keep_best and record["val_cosine"] > best[0]:
                best = (record["val_cosine"], copy.deepcopy(model.state_dict()))
        history.append(record)
        # no val_cos without validation rows (the pipeline's bar said val_cos=nan for every epoch)
        bar.set_postfix(loss=f"{record['train_total']:.4f}",
                        **({"val_cos": f"{record['val_cosine']:.4f}"} if "val_cosine" in record else {}))
    if best[1] is not None:
        model.load_state_dict(best[1])
    if config.refit_epochs:
        history += _refit(model, X_train, X_val, config, loss_fn, progress, first_epoch=config.epochs)
    model.eval()
    return model, history


def _refit(model, X_train: torch.Tensor, X_val, config: TrainConfig, loss_fn, progress: bool,
           first_epoch: int) -> list[dict]:
    records = refit(model, X_train, config, loss_fn, progress)
    if X_val is not None:  # the averaged weights, the ones returned
        records[-1].update({f"val_{k}": v for k, v in _evaluate(model, X_val).items()})
    return [{"epoch": first_epoch + i, "quantized": True, **r} for i, r in enumerate(records)]


def refit_vqvae(model, X_train, config: TrainConfig | dict, X_val=None, progress: bool = True):
    """Run only the refit stage (:mod:`.refit`) on a trained ``model``, in place.

    ``config.refit_epochs`` epochs; the other fields used are ``seed``, ``batch_size``,
    ``weight_decay``, the loss weights and ``num_threads``. Returns ``(model, history)``
    like :func:`train_vqvae`, with epochs numbered after ``config.epochs``.
    """
    config = TrainConfig.from_dict(config) if isinstance(config, dict) else config
    if config.refit_epochs <= 0:
        raise ValueError(f"refit_epochs={config.refit_epochs} must be > 0 to refit")
    X_train = torch.from_numpy(_check_scale(check_embeddings(X_train, config.input_dim, "X_train"), "X_train"))
    if X_val is not None:
        X_val = torch.from_numpy(_check_scale(check_embeddings(X_val, config.input_dim, "X_val"), "X_val"))
    with _threads(config.num_threads):
        return model, _refit(model, X_train, X_val, config, _loss(config), progress, first_epoch=config.epochs)

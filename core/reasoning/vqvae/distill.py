"""Amortised search: teach the plain encoder the codes that the ICM/pair search finds.

``encode(X, refine=2, candidates=32, pairs=12)`` beats the plain encoder because the
search asks the *decoder* which codes reconstruct ``x`` best; it costs ~23 ms a vector.
Distillation moves that work to training time, in two stages on the training split:

1. **code prediction**: the encoder (same architecture, same codebooks, so ``encode``
   stays one matmul chain and an argmin) is trained by cross-entropy per head on its
   code logits ``-scale_h * ||z_h - c||^2`` towards the searched codes. The scale per head
   only sharpens the loss; the argmin, and so the codes, do not depend on it.
2. **decoder refit**: with the encoder and codebooks frozen, the decoder is fitted to the
   codes the distilled encoder now gives (as the refit stage fits it to searched codes),
   averaging the weights of its epochs. The codes ``encode`` returns are exactly the ones
   the decoder was refitted on.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.reasoning.vqvae.diverged import check_loss, check_weights, overflow_is_divergence
from core.reasoning.vqvae.layers import nearest_code
from core.reasoning.vqvae.refit import WeightAverage


@dataclass
class DistillConfig:
    """Settings of :func:`distill`; saved in the model card."""

    sweeps: int = 2             # the search whose codes are the targets
    candidates: int = 32
    pairs: int = 12
    # few epochs at a small LR: on 6k searched rows, 20 epochs at 1e-3 reached .998 training
    # agreement and lost held-out agreement (.70 -> .65); 3 at 3e-4 gained (.70 -> .704)
    epochs: int = 3             # code-prediction epochs (encoder only)
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    batch_size: int = 256
    decoder_epochs: int = 5     # decoder refit on the distilled codes
    decoder_learning_rate: float = 3e-4
    seed: int = 0

    def __post_init__(self):
        bad = [f"{k}={v!r}" for k, v in asdict(self).items()
               if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0
               or (k in ("candidates", "batch_size", "learning_rate", "decoder_learning_rate") and v <= 0)]
        if bad:
            raise ValueError("bad DistillConfig value(s): " + ", ".join(bad))

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def search_targets(model, X: torch.Tensor, sweeps: int = 2, candidates: int = 32, pairs: int = 12,
                   batch_size: int | None = None, progress: bool = False) -> torch.Tensor:
    """The searched codes (n, heads) of ``X``: ``refine_indices`` in eval mode, batch by batch."""
    from tqdm.auto import tqdm

    model.eval()
    batch_size = batch_size or (512 if not pairs else max(16, 65536 // (pairs + 1) ** 2))
    starts = range(0, X.shape[0], batch_size)
    parts = [model.refine_indices(X[s:s + batch_size], sweeps=sweeps, candidates=candidates, pairs=pairs)
             for s in tqdm(starts, desc="search targets", disable=not progress, unit="batch")]
    return torch.cat(parts) if parts else torch.zeros(0, model.num_heads, dtype=torch.long)


def code_logits(model, x: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Logits (n, heads, K) of the codes: scaled negative squared distance of the latent to each code."""
    z = model.quantizer.prepare(model.encoder(x))
    _, dist = nearest_code(z, model.quantizer.code_vectors.detach())
    return -dist * log_scale.exp()[None, :, None]


@torch.no_grad()
def agreement(model, X: torch.Tensor, targets: torch.Tensor, batch_size: int = 4096) -> float:
    """Fraction of (row, head) codes where the plain encoder equals ``targets``."""
    model.eval()
    hits = sum(int((model.encode_indices(X[s:s + batch_size]) == targets[s:s + batch_size]).sum())
               for s in range(0, X.shape[0], batch_size))
    return hits / max(1, targets.numel())


@torch.no_grad()
def _calibrated_scale(model, X: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-head log scale of the logits with the lowest cross-entropy on ``X`` (a grid of powers of 2).

    Too soft a scale makes the loss pull every latent towards the middle of its candidates,
    which lowers the agreement of the argmin with the targets while the loss falls.
    """
    model.eval()
    q = model.quantizer
    _, dist = nearest_code(q.prepare(model.encoder(X)), q.code_vectors)  # (n, heads, K)
    base = -(dist.gather(-1, targets[..., None])[..., 0]).mean(0).clamp(min=1e-6).log()  # (heads,)
    grid = torch.arange(-2, 13, dtype=dist.dtype) * np.log(2.0)
    ce = torch.stack([F.cross_entropy((-dist * (base + g).exp()[None, :, None]).permute(0, 2, 1), targets,
                                      reduction="none").mean(0) for g in grid])  # (grid, heads)
    return base + grid[ce.argmin(0)]


def _fit_encoder(model, X, targets, cfg: DistillConfig, generator, progress) -> list[dict]:
    """Stage 1: cross-entropy of the encoder's code logits towards ``targets``; returns history."""
    from tqdm.auto import tqdm

    log_scale = torch.nn.Parameter(_calibrated_scale(model, X[:4096], targets[:4096]))
    opt = torch.optim.AdamW([{"params": list(model.encoder.parameters())},
                             {"params": [log_scale], "lr": 0.02, "weight_decay": 0.0}],
                            lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    n = X.shape[0]
    steps = cfg.epochs * ((n + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    history = []
    for epoch in tqdm(range(cfg.epochs), desc="distill encoder", disable=not progress, unit="epoch"):
        model.train()
        perm = torch.randperm(n, generator=generator)
        total, hits = 0.0, 0
        for s in range(0, n, cfg.batch_size):
            rows = perm[s:s + cfg.batch_size]
            logits = code_logits(model, X[rows], log_scale)
            loss = F.cross_entropy(logits.flatten(0, 1), targets[rows].flatten())
            total += check_loss(loss.item(), epoch, "learning_rate", cfg.learning_rate) * len(rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with overflow_is_divergence(epoch, "learning_rate", cfg.learning_rate):
                opt.step()
            sched.step()
            hits += int((logits.argmax(-1) == targets[rows]).sum())
        check_weights(model, epoch, "learning_rate", cfg.learning_rate)  # the next epoch's codes read them
        history.append({"stage": "distill", "epoch": epoch, "train_ce": total / n,
                        "train_agreement": hits / targets.numel()})
    return history


def _fit_decoder(model, X, cfg: DistillConfig, generator, progress) -> list[dict]:
    """Stage 2: decoder refit on the (now frozen) encoder's codes, weights averaged; returns history."""
    from tqdm.auto import tqdm

    model.eval()
    with torch.no_grad():
        codes = torch.cat([model.encode_indices(X[s:s + 4096]) for s in range(0, X.shape[0], 4096)])
        inputs = model.quantizer.get_codes_from_indices(codes)
    opt = torch.optim.AdamW(model.decoder.parameters(), lr=cfg.decoder_learning_rate,
                            weight_decay=cfg.weight_decay)
    average, history, n = WeightAverage(), [], X.shape[0]
    for epoch in tqdm(range(cfg.decoder_epochs), desc="refit decoder", disable=not progress, unit="epoch"):
        model.decoder.train()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            rows = perm[s:s + cfg.batch_size]
            recon, xb = model.decoder(inputs[rows]), X[rows]
            loss = F.mse_loss(recon, xb) + (1 - F.cosine_similarity(recon, xb, dim=-1)).mean()
            total += check_loss(loss.item(), epoch, "decoder_learning_rate", cfg.decoder_learning_rate) * len(rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with overflow_is_divergence(epoch, "decoder_learning_rate", cfg.decoder_learning_rate):
                opt.step()
        check_weights(model, epoch, "decoder_learning_rate", cfg.decoder_learning_rate)  # before they are averaged
        average.add(model.decoder)
        history.append({"stage": "distill_decoder", "epoch": epoch, "train_loss": total / n})
    if average.state is not None:
        model.decoder.load_state_dict(average.state)
    return history


def distill(model, X_train: torch.Tensor, targets: torch.Tensor | None = None,
            config: DistillConfig | None = None, progress: bool = True, X_refit: torch.Tensor | None = None):
    """A copy of ``model`` whose plain encoder predicts the searched codes; ``(model, history)``.

    Parameters
    ----------
    model : MonolithWiki (trained)
    X_train : Tensor (n, input_dim), the training split (never held-out data)
    targets : LongTensor (n, heads), optional
        The searched codes of ``X_train``; computed with ``config``'s search when omitted.
    config : DistillConfig, optional
    X_refit : Tensor (m, input_dim), optional
        Rows for the decoder refit (default ``X_train``): it needs no search, so it can use
        the whole training split when the targets were searched for a subset only.

    Deterministic for a given ``config.seed`` and thread count; ``model`` is not changed. A loss or weight that
    goes non-finite stops it with :class:`~core.reasoning.vqvae.diverged.TrainingDiverged`, as training stops.
    """
    if getattr(model.quantizer, "kind", "heads") != "heads":
        raise ValueError("distill supports product-quantizer models (quantizer='heads') only: its code "
                         "logits are per-head distances to the encoder's latent, which a residual "
                         "stage's codes are not")
    cfg = config or DistillConfig()
    model = copy.deepcopy(model).eval()
    if targets is None:
        targets = search_targets(model, X_train, cfg.sweeps, cfg.candidates, cfg.pairs, progress=progress)
    targets = targets.long()
    if targets.shape != (X_train.shape[0], model.num_heads):
        raise ValueError(f"targets must have shape {(X_train.shape[0], model.num_heads)}, got {tuple(targets.shape)}")
    if targets.numel() and (targets.min() < 0 or targets.max() >= model.codebook_size):
        raise ValueError(f"targets must lie in [0, {model.codebook_size - 1}]")
    torch.manual_seed(cfg.seed)  # dropout masks
    generator = torch.Generator().manual_seed(cfg.seed)
    q = model.quantizer
    ema, trainable = q.ema_update, q.codebooks.requires_grad
    q.codebooks.requires_grad_(False)
    try:
        history = _fit_encoder(model, X_train, targets, cfg, generator, progress)
        history += _fit_decoder(model, X_train if X_refit is None else X_refit, cfg, generator, progress)
    finally:
        q.ema_update = ema
        q.codebooks.requires_grad_(trainable)
    model.eval()
    history.append({"stage": "distill_done", "train_agreement_eval": agreement(model, X_train, targets)})
    return model, history

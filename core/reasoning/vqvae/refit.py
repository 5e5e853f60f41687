"""Refit stage: train the decoder and codebooks on the codes that search picks, then average.

The main schedule trains the decoder on the encoder's nearest codes, but encoding with
``refine`` hands it the codes an ICM search picks against the decoder's output. This
stage closes that gap the way LSQ trains its codebooks: it alternates between searching
codes for the training set (ICM, as at encode time) and fitting the decoder and the
codebooks, now trained by gradient, to those codes at a small constant learning rate.
The weights of every epoch are averaged (stochastic weight averaging), which smooths
the decoder over the codes it has not seen.
"""
from __future__ import annotations

import copy

import torch

from core.reasoning.vqvae.diverged import check_loss, check_weights, overflow_is_divergence


@torch.no_grad()
def search_codes(model, X: torch.Tensor, candidates: int, batch_size: int = 512) -> torch.Tensor:
    """ICM-refined codes (n, heads) of ``X`` with one sweep, in eval mode."""
    model.eval()
    parts = [model.refine_indices(X[s:s + batch_size], sweeps=1, candidates=candidates)
             for s in range(0, X.shape[0], batch_size)]
    return torch.cat(parts)


class WeightAverage:
    """Running mean of a model's floating-point state (integer buffers keep the latest)."""

    def __init__(self):
        self.state, self.count = None, 0

    @torch.no_grad()
    def add(self, model) -> None:
        self.count += 1
        current = model.state_dict()
        if self.state is None:
            self.state = {k: v.detach().clone() for k, v in current.items()}
            return
        for key, value in current.items():
            if value.is_floating_point():
                self.state[key] += (value - self.state[key]) / self.count
            else:
                self.state[key].copy_(value)

    def model_like(self, model):
        """``model`` itself before the first :meth:`add`, else a copy holding the average."""
        if self.state is None:
            return model
        averaged = copy.deepcopy(model)
        averaged.load_state_dict(self.state)
        return averaged


def refit(model, X_train: torch.Tensor, config, loss_fn, progress: bool = True) -> list[dict]:
    """Run ``config.refit_epochs`` refit epochs on ``model`` in place; returns their history.

    The model ends in eval mode holding the average of the epochs' weights; its codebooks
    go back to how the main schedule trained them (EMA or gradient) afterwards. The stage
    seeds its own random state from ``config.seed``, so refitting a saved model gives
    the same weights as a run that trains and refits in one go.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed + 1)  # dropout masks
    generator = torch.Generator().manual_seed(config.seed + 1)

    q = model.quantizer
    ema, trainable = q.ema_update, q.codebooks.requires_grad
    q.ema_update = False
    q.codebooks.requires_grad_(True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=config.refit_learning_rate, weight_decay=config.weight_decay)
    average, history, n = WeightAverage(), [], X_train.shape[0]
    try:
        for epoch in tqdm(range(config.refit_epochs), desc="refit vqvae", disable=not progress, unit="epoch"):
            if epoch % config.refit_refresh == 0:  # search with the averaged weights once there are some
                codes = search_codes(average.model_like(model), X_train, config.refit_candidates)
            model.train()
            perm = torch.randperm(n, generator=generator)
            sums = dict.fromkeys(("total", "recon", "cosine", "codebook", "commitment"), 0.0)
            for start in range(0, n, config.batch_size):
                rows = perm[start:start + config.batch_size]
                xb = X_train[rows]
                z = q.prepare(model.encoder(xb)).reshape(len(xb), -1)
                _, nearest, _ = q(z)  # usage counts and dead-code restarts
                books = q.code_vectors
                searched = q.latent_from_indices(books, codes[rows])
                # decoder input: the searched codes (gradients reach the codebooks), with a
                # straight-through path to the encoder
                recon = model.decoder(searched + z - z.detach())
                terms = loss_fn(xb, recon, z, q.latent_from_indices(books, nearest), books)
                check_loss(terms.total.item(), epoch, "refit_learning_rate", config.refit_learning_rate)
                opt.zero_grad(set_to_none=True)
                terms.total.backward()
                with overflow_is_divergence(epoch, "refit_learning_rate", config.refit_learning_rate):
                    opt.step()
                for key in sums:
                    sums[key] += getattr(terms, key).item() * len(xb)
            check_weights(model, epoch, "refit_learning_rate", config.refit_learning_rate)
            average.add(model)
            history.append({"stage": "refit", "lr": config.refit_learning_rate,
                            **{f"train_{k}": v / n for k, v in sums.items()}})
    finally:
        q.ema_update = ema
        q.codebooks.requires_grad_(trainable)
    if average.state is not None:
        model.load_state_dict(average.state)
    model.eval()
    return history

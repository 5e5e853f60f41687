"""Training stops at the first non-finite loss or weight, with one line that names the learning rate.

A learning rate of 1e10 trained every weight into NaN without a word: the pipeline then wrote bare ``NaN``
into its JSON and decode "reconstructed" every item perfectly (a NaN vector leaves nothing out); 1e300 was a
torch traceback from Adam's step ("value cannot be converted to type float without overflow").
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch


class TrainingDiverged(ValueError):
    """The VQ-VAE's loss or weights went non-finite at ``epoch`` (1-based); ``setting`` is the rate to lower."""

    def __init__(self, epoch: int, what: str, setting: str, value: float):
        self.epoch, self.what, self.value = epoch, what, value
        super().__init__(self.naming(setting))

    def naming(self, setting: str) -> str:
        """The message with the config key the user gave (``vqvae_learning_rate`` in the pipeline's config)."""
        return (f"VQ-VAE training diverged at epoch {self.epoch} ({self.what}): lower {setting} "
                f"(it is {self.value:g}); no model was saved")


def check_loss(loss: float, epoch: int, setting: str, value: float) -> float:
    """``loss`` when finite; else :class:`TrainingDiverged` (the step after it would make every weight NaN)."""
    if not math.isfinite(loss):
        raise TrainingDiverged(epoch + 1, f"loss is {loss}", setting, value)
    return loss


@contextmanager
def overflow_is_divergence(epoch: int, setting: str, value: float) -> Iterator[None]:
    """Adam's step with a learning rate near 1e300 overflows float32: a RuntimeError, said as divergence."""
    try:
        yield
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            raise
        raise TrainingDiverged(epoch + 1, "the optimizer's step overflowed float32", setting, value) from None


def check_weights(model, epoch: int, setting: str, value: float) -> None:
    """Every floating-point weight and buffer finite after ``epoch``; the last step can spoil them unseen."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise TrainingDiverged(epoch + 1, f"weight {name} holds NaN or inf", setting, value)

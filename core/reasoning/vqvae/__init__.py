"""VQ-VAE compression of 384-d sentence embeddings into 4 one-byte codes."""
from core.reasoning.vqvae.layers import OrthogonalProductQuantizer, kmeans, nearest_code, orthogonal_loss
from core.reasoning.vqvae.loss import LossBreakdown, VQVAELoss
from core.reasoning.vqvae.model import MonolithV13
from core.reasoning.vqvae.model_wiki import MonolithWiki
from core.reasoning.vqvae.train import TrainConfig, refit_vqvae, train_vqvae

__all__ = [
    "OrthogonalProductQuantizer", "kmeans", "nearest_code", "orthogonal_loss",
    "LossBreakdown", "VQVAELoss", "MonolithV13", "MonolithWiki", "TrainConfig", "train_vqvae", "refit_vqvae",
]

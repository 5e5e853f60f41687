"""Reading a VQ-VAE model file: safetensors weights + their JSON config, or a legacy ``.pth``.

``MycelialVQVAE`` loads every model through ``_read_model``. It is kept apart from the codec
because it is the one place that trusts a file on disk: it never unpickles, it names the file
and the reason when something is wrong, and it compares a config's tensor shapes with the
file's before building the model, so a forged config cannot allocate a huge one.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from core.reasoning.vqvae.model import MonolithV13, load_legacy_state
from core.reasoning.vqvae.model_wiki import MonolithWiki

MODEL_CLASSES = {"MonolithWiki": MonolithWiki, "MonolithV13": MonolithV13}


def _paths(path: str | Path) -> tuple[Path, Path]:
    """(weights file, JSON file) for a ``.safetensors`` path or a folder."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    return path / "model.safetensors", path / "config.json"


def foreign_file(weights: Path, card: Path) -> str | None:
    """Why writing ``weights`` and ``card`` would replace a file that is not a saved model's own (a project's
    ``config.json``, a ``results.json`` beside ``results.safetensors``); None when both are new or a model's.

    A card is a model's when it is a JSON object naming ``model_class`` and ``model_config``; weights are a
    model's only beside such a card."""
    mine = False
    if card.exists() or card.is_symlink():
        try:
            info = json.loads(card.read_text(encoding="utf-8"))
            mine = isinstance(info, dict) and "model_class" in info and "model_config" in info
        except (OSError, ValueError):
            pass
        if not mine:
            return f"{card} exists and is not a VQ-VAE model card (MycelialVQVAE.save and `mycelial train` write those)"
    if (weights.exists() or weights.is_symlink()) and not mine:
        return f"{weights} exists without the model card ({card.name}) saved beside it"
    return None


def _read_model(weights: Path, config_path: Path | None = None):
    """Build the model a weights file describes; raise with the reason when it can't."""
    if not weights.is_file():
        raise FileNotFoundError(f"VQ-VAE weights {weights} not found")
    if weights.suffix == ".pth":  # legacy checkpoint: the seed's default MonolithV13
        model = MonolithV13()
        try:
            own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            missing, unexpected = model.load_state_dict(load_legacy_state(weights, own), strict=False)
        except RuntimeError as exc:  # tensors of other shapes: torch lists every one
            raise ValueError(f"{weights} is not a MonolithV13 checkpoint "
                             f"({str(exc).strip().splitlines()[-1].strip()[:300]})") from None
        if [k for k in missing if not k.endswith(("initted", "cluster_size", "embed_sum"))] or unexpected:
            raise ValueError(f"{weights} is not a MonolithV13 checkpoint "
                             f"(missing {missing}, unexpected {unexpected})")
        return _finite(model, weights).eval()
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # SafetensorError is a bare Exception subclass
        raise ValueError(f"{weights} is not a valid safetensors file ({exc})") from exc
    try:
        if "config" in meta:
            info = json.loads(meta["config"])
        elif config_path is not None and config_path.is_file():
            info = json.loads(config_path.read_text(encoding="utf-8"))
        else:
            raise ValueError(f"{weights} carries no model config (no metadata, no {config_path})")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{weights}: its model config is not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{weights}: its model config is not a JSON object")
    cls_name = info.get("model_class")
    if not isinstance(cls_name, str) or cls_name not in MODEL_CLASSES:
        raise ValueError(f"{weights}: unknown model_class {cls_name!r}; expected one of {sorted(MODEL_CLASSES)}")
    _check_shapes(weights, MODEL_CLASSES[cls_name], info.get("model_config"))
    try:  # a foreign or edited config: an unknown key, a negative or non-integer size
        model = MODEL_CLASSES[cls_name](**info["model_config"])
    except Exception as exc:
        raise ValueError(f"{weights}: model_config {info['model_config']} does not build a {cls_name} "
                         f"({type(exc).__name__}: {str(exc).strip()[:200]})") from None
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
        own = model.state_dict()
        for k, v in state.items():  # integer weights were cast into the float model without a word
            if k in own and own[k].is_floating_point() != v.is_floating_point():
                raise ValueError(f"tensor {k} is {v.dtype}, the model's is {own[k].dtype}")
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # SafetensorError / RuntimeError of a damaged file: name it
        # torch's first line only named the class; the tensors and shapes are on the lines below it
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = "; ".join(lines[1:] if len(lines) > 1 else lines)
        raise ValueError(f"{weights}: weights do not load ({why[:400]})") from None
    return _finite(model, weights).eval()


def _finite(model, weights: Path):
    """A NaN or inf weight (a damaged file) made every code 0 and every decoded vector NaN, silently.

    Checked in numpy: ``torch.isfinite`` took 20-50 ms a tensor on a loaded machine (0.33 s of a
    memory's open), numpy well under 1 ms."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not np.isfinite(tensor.detach().cpu().numpy()).all():
            raise ValueError(f"{weights}: tensor {name} holds NaN or inf values (damaged weights)")
    return model


def _check_shapes(weights: Path, cls, config) -> None:
    """Build the model on torch's meta device (no memory) and compare its tensor shapes with the file's.

    A forged config (a 260-byte file claiming a huge ``hidden_dim``) would otherwise allocate
    the model it describes (160 GB) before the weights are found missing.
    """
    from safetensors import safe_open

    if not isinstance(config, dict):
        raise ValueError(f"{weights}: model_config is not a JSON object")
    with safe_open(str(weights), framework="pt") as fh:  # the header is bounded by the file's size
        found = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    # fast path: no two sizes of the config multiply past the file's elements (then the model is
    # about as large as the file); only a suspicious config pays for the meta build (~3 s first time)
    sizes = [int(v) for v in config.values() if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    elements = sum(int(np.prod(shape, dtype=np.int64)) for shape in found.values())
    if len(sizes) < 2 or max(a * b for i, a in enumerate(sizes) for b in sizes[i + 1:]) <= 4 * elements:
        return
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in cls(**config).state_dict().items()}
    except Exception as exc:  # bad arguments of any kind: name the file
        raise ValueError(f"{weights}: model_config {config} does not build a {cls.__name__} ({exc})") from None
    for name, shape in expected.items():
        if found.get(name) != shape:
            raise ValueError(f"{weights}: model_config asks for {name} of shape {shape}, the file holds "
                             f"{found.get(name, 'no such tensor')} (corrupt or mismatched weights)")

"""Input checks shared by every public entry point.

Validation happens once, where user data enters; inner functions assume it was done.
Messages name the argument, what was found and what was expected.
"""
from __future__ import annotations

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before it was fitted or loaded."""


def _as_numpy(x):
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16: .numpy() raised TypeError
            x = x.float()
        x = x.numpy()
    return x


def unmasked(x, name: str):
    """``x``, or the data of a numpy masked array none of whose values is masked. A masked value is
    refused: numpy hands every function the raw data beneath the mask (the hidden values were encoded)."""
    if not isinstance(x, np.ma.MaskedArray):
        return x
    mask = np.ma.getmaskarray(x)
    if mask.any():
        where = np.argwhere(mask)[0].tolist()
        at = f"row {where[0]}, column {where[1]}" if len(where) == 2 else f"index {tuple(where)}"
        raise ValueError(f"{name} is a masked array with {int(mask.sum())} masked value(s) (first at {at}); "
                         f"the mask would be ignored: fill them ({name}.filled(...)) or drop their rows")
    return x.data


def check_embeddings(X, dim: int | None = None, name: str = "embeddings") -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n, dim).

    A single vector of shape (dim,) is promoted to (1, dim). Raises ``ValueError`` for
    a wrong rank or dimension, an empty batch, a non-float dtype, NaN/inf or masked values.
    """
    X = unmasked(_as_numpy(X), name)
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} must be an array of shape (n, {dim}); {exc}") from exc
    if X.dtype == object or not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise ValueError(f"{name} must hold floating point numbers, got dtype {X.dtype}")
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n, {dim if dim else 'd'}), got shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {X.shape}); pass at least one vector")
    if dim is not None and X.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns, got shape {X.shape}")
    if X.dtype.itemsize > 4 and np.issubdtype(X.dtype, np.floating) and np.isfinite(X).all():
        big = np.abs(X) > np.finfo(np.float32).max  # finite here, inf as float32: say so, not "NaN or inf"
        if big.any():
            bad = np.argwhere(big)[0]
            raise ValueError(f"{name} holds {float(X[bad[0], bad[1]])!r} (row {bad[0]}, column {bad[1]}), beyond "
                             f"float32's range; embeddings are float32 (unit-length rows)")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return X


def codes_dtype(codebook_size: int) -> np.dtype:
    """The dtype codes are handed out in: uint8 up to 256 codes a head, uint16 up to 65,536, uint32 beyond.

    One rule for every public API that returns codes (the codec's ``encode``, the network's ``reason``), so
    their outputs compare and concatenate without a cast (``reason`` gave int64 where ``encode`` gave uint8)."""
    return np.dtype(np.uint8 if codebook_size <= 256 else np.uint16 if codebook_size <= 65_536 else np.uint32)


def check_codes(codes, num_heads: int, codebook_size: int, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as an int64 array of shape (n, num_heads) with values in range.

    A single row of shape (num_heads,) is promoted to (1, num_heads).
    """
    codes = np.asarray(unmasked(_as_numpy(codes), name))
    if codes.dtype == bool:  # a mask, not codes: True/False were read as codes 1 and 0
        raise ValueError(f"{name} must be integer codes, got dtype bool (a mask?)")
    if codes.dtype == object or not np.issubdtype(codes.dtype, np.integer):
        if np.issubdtype(codes.dtype, np.floating) and codes.size and np.isfinite(codes).all() \
                and np.all(codes == np.round(codes)):
            _check_code_range(codes, codebook_size, name)  # before the cast: 1e20 wrapped to -2**63
            codes = codes.astype(np.int64)
        else:
            raise ValueError(f"{name} must be integers, got dtype {codes.dtype}")
    elif codes.dtype == np.uint64 and codes.size:
        _check_code_range(codes, codebook_size, name)  # 2**63 + 5 wrapped to a negative int64
    if codes.ndim == 1:
        codes = codes[None, :]
    if codes.ndim != 2 or codes.shape[1] != num_heads:
        raise ValueError(f"{name} must have shape (n, {num_heads}), got {codes.shape}")
    if codes.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {codes.shape})")
    codes = codes.astype(np.int64, copy=False)
    _check_code_range(codes, codebook_size, name)
    return np.ascontiguousarray(codes)


def _check_code_range(codes: np.ndarray, codebook_size: int, name: str) -> None:
    lo, hi = codes.min(), codes.max()
    if lo < 0 or hi >= codebook_size:
        raise ValueError(f"{name} must lie in [0, {codebook_size - 1}], got values from "
                         f"{_num(lo)} to {_num(hi)}")


def _num(v) -> str:
    """A code value as a person reads it: 1e+20 (float), 9223372036854775813 (uint64), 256."""
    return repr(float(v)) if isinstance(v, np.floating) and abs(float(v)) >= 2 ** 53 else str(int(v))


def check_query_vector(q, dim: int = 384) -> np.ndarray:
    """The one query vector at unit length: scores are cosines (the stored vectors are unit length) and
    hybrid's lift is in cosine units. The embedder's unit vectors pass unchanged (bit for bit)."""
    Q = check_embeddings(q, dim, "query")
    if len(Q) != 1:
        raise ValueError(f"query must be one query vector of shape ({dim},), got shape {Q.shape}; "
                         f"recall_batch() takes several query texts")
    norm = float(np.linalg.norm(Q[0].astype(np.float64)))
    if norm == 0:
        raise ValueError("query vector is all zeros")
    return Q[0] if abs(norm - 1.0) <= 1e-3 else (Q[0] / norm).astype(np.float32)


def check_ids(values, name: str) -> list[int] | None:
    """Chunk ids a caller gives (None stays None): a string was iterated (``exclude="12"`` left out chunks
    1 and 2) and a None among them raised a bare TypeError from int()."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of chunk ids (integers), e.g. [12, 40]; got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must hold chunk ids (integers), e.g. [12, 40]; got {v!r}")
        if v < 0:  # as the CLI and GET refuse it: exclude=[-5] left nothing out, silently
            raise ValueError(f"{name} holds {int(v)}: chunk ids are never negative")
        if v < 2 ** 63:  # beyond 64 bits no chunk has it (it was an OverflowError in numpy)
            out.append(int(v))
    return out


def check_flags(**flags) -> None:
    """True/False arguments, named: a string is truthy, so ``per_document="no"`` grouped hits by document
    and ``read_only="no"`` opened the memory read-only."""
    for name, flag in flags.items():
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")


EXCLUDE_MAX = 10_000  # chunk ids one HTTP request or command may leave out (a URL or a command line of them)


def parse_chunk_ids(values, most: int = EXCLUDE_MAX) -> list[int]:
    """Chunk ids typed as text, for ``exclude`` over HTTP and on the command line: each value one id or
    several comma-separated (``12,40``); empty pieces are ignored. ValueError names the first bad piece
    (the caller names the parameter)."""
    import re

    out = []
    for value in values:
        for piece in str(value).split(","):
            piece = piece.strip()
            if not piece:
                continue
            if re.fullmatch(r"-[0-9]{1,30}", piece) and int(piece):  # `recall --exclude -5` left nothing out, silently
                raise ValueError(f"{piece!r:.80} is not a chunk id (chunk ids are never negative)")
            if not re.fullmatch(r"[+-]?[0-9]{1,30}", piece):  # 10,000 digits: int() refuses them
                raise ValueError(f"{piece!r:.80} is not a chunk id (an integer; several are comma-separated: 12,40)")
            out.append(int(piece))
    if len(out) > most:
        raise ValueError(f"at most {most:,} chunk ids, got {len(out):,}")
    return out

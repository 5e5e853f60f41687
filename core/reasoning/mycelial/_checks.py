"""Input checks: codes, groups and node ids for every part of ``MycelialReasoning``; the codec's search options."""
from __future__ import annotations

import numpy as np

from core._validation import unmasked
from core.reasoning.mycelial.config import _is_int

MAX_REFINE = 100  # ICM sweeps; on 200 random vectors no code changed after the 4th
DEFAULT_CANDIDATES = 16  # codes tried per head and sweep when refining and none are given


class ChecksMixin:
    """Validate codes, groups and ``(head, code)`` nodes against the network's config."""


    def _check_codes(self, codes, name: str = "codes") -> np.ndarray:
        """Integer codes of shape (n, heads) in range; keeps a narrow integer dtype as is."""
        c = self.config
        if hasattr(codes, "detach") and hasattr(codes, "cpu"):  # torch.Tensor
            codes = codes.detach().cpu().numpy()
        codes = unmasked(codes, name)  # a masked array is an ndarray: its hidden codes were observed
        arr = np.asarray(codes) if not isinstance(codes, np.ndarray) else codes
        if arr.dtype.kind in "iu" and arr.ndim in (1, 2):
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.shape[1] != c.num_heads:
                raise ValueError(f"{name} must have shape (n, {c.num_heads}), got {np.shape(codes)}")
            if arr.shape[0] == 0:
                raise ValueError(f"{name} is an empty batch (shape {arr.shape})")
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi >= c.codebook_size:
                raise ValueError(
                    f"{name} must lie in [0, {c.codebook_size - 1}], got values from {lo} to {hi}"
                )
            return np.ascontiguousarray(arr)
        from core._validation import check_codes

        return check_codes(codes, c.num_heads, c.codebook_size, name)

    @staticmethod
    def _check_groups(groups, n: int) -> np.ndarray:
        g = np.asarray(unmasked(groups, "groups"))
        if g.ndim != 1 or g.shape[0] != n:
            raise ValueError(f"groups must have shape ({n},) (one id per row of codes), got {g.shape}")
        if g.dtype.kind not in "iu":
            if g.dtype.kind == "f" and np.isfinite(g).all() and np.all(g == np.round(g)):
                g = g.astype(np.int64)
            else:
                raise ValueError(f"groups must be integer ids, got dtype {g.dtype}")
        return np.ascontiguousarray(g, dtype=np.int64)

    def _node(self, node) -> int:
        c = self.config
        try:
            head, code = (int(v) for v in node)
        except (TypeError, ValueError):
            raise ValueError(f"node must be a (head, code) pair, got {node!r}") from None
        if not (0 <= head < c.num_heads and 0 <= code < c.codebook_size):
            raise ValueError(
                f"node (head, code) must lie in [0, {c.num_heads - 1}] x [0, {c.codebook_size - 1}], "
                f"got {node!r}"
            )
        return head * c.codebook_size + code

    def _hc(self, node: int) -> tuple[int, int]:
        return divmod(int(node), self.config.codebook_size)

    @staticmethod
    def _check_k(k, name: str) -> int:
        if not _is_int(k) or k < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {k!r}")
        return int(k)


def check_search(refine, candidates, pairs, beam, codebook_size: int) -> int:
    """``MycelialVQVAE.encode``'s refinement options, checked together; returns ``candidates`` (16 when not given).

    Why together: each alone can look fine while the encoding ignores it (``candidates``
    without ``refine`` was dropped without a word, the CLI already refused it)."""
    given = (("refine", refine, 0), ("pairs", pairs, 0), ("beam", beam, 1), ("candidates", candidates, 0))
    for name, value, least in given[:3] if candidates is None else given:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    if refine > MAX_REFINE:  # the sweeps have no stop of their own: refine=10**9 never returned
        raise ValueError(f"refine must be at most {MAX_REFINE}, got {refine!r}; the codes stop "
                         f"changing after a few sweeps (2 is the README's setting)")
    if pairs and not refine:
        raise ValueError("pairs needs refine >= 1 (the pair search starts from refined codes)")
    if candidates is not None and not refine:
        raise ValueError(f"candidates={candidates!r} tunes the refinement and needs refine >= 1 "
                         f"(e.g. refine=2); the plain encoder tries no candidates")
    candidates = DEFAULT_CANDIDATES if candidates is None else int(candidates)
    if refine and candidates < 1:  # 0 candidates would silently skip the refinement asked for
        raise ValueError(f"candidates must be >= 1 when refine={refine}, got {candidates}")
    if refine and candidates > codebook_size:  # topk kept all 256 codes and said nothing
        raise ValueError(f"candidates must be at most the codebook size {codebook_size}, got {candidates}")
    if pairs > candidates:  # the pair search draws from the candidates: pairs=20 of 16 tried 16
        raise ValueError(f"pairs must be at most candidates ({candidates}), got {pairs}; "
                         f"the pair search draws from each head's candidates")
    return candidates

"""The compression pipeline (``mycelial pipeline|decode|evaluate``): WikiText-2 sentences ->
embeddings -> VQ-VAE codes or FAISS OPQ+PQ codes -> vectors -> text, and its figures.

Kept apart from the top of ``core/``, which holds what every part shares (config,
embedder, validation, I/O, CLI). Submodules are imported on use: nothing here pulls in
torch or FAISS.
"""

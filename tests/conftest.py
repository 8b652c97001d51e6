"""Suite-wide settings: deterministic threads, offscreen Qt."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

# Two cores, often shared with a background training run: one intra-op thread keeps test
# timings stable and avoids oversubscription (OpenMP spinning) that slows small ops 10x.
torch.set_num_threads(1)

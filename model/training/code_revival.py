"""Dead-code revival for codebooks learned by gradient (DAC's factorised codes, HiFi-Codec's).

Why: a gradient-learned codebook only moves the codes that are picked, so a code that loses
its last frames never comes back, and the few codes near the dense regions of the latent space
take more and more of the frames. Training the bundled model showed exactly that: the lowest
codebook entropy on validation fell from 5.4 to 4.2 bits over three validations, with a third
of the codes never used. EMA codebooks (SoundStream, EnCodec) restart their own dead codes
(:mod:`model.ema_quantize`); this is the same remedy for the others.

Every ``window`` steps (counted from the run's start, or from a resume of a checkpoint
written before revival was turned on) the codes a stage used fewer than ``min_uses`` times (counted on every
training frame, all-reduced over processes) are moved onto latent vectors of the current batch
-- drawn uniformly from the frames, so new codes land where the data is dense and split the
busiest codes' regions. Their AdamW moments are zeroed, so stale momentum does not drag them off
at once. At most one code per frame of the batch is revived per stage and window; the rest wait
for the next window.

Kept out of the network: the counts live here and in the trainer's checkpoint, so a model's
state dict (and loading official checkpoints strictly) is unchanged. A frozen codebook (a
decoder-only fine-tune keeps the codes compatible) is never touched. Picks come from a generator
seeded by the run's seed and the step, identical on every process; rank 0's vectors are
broadcast, so all replicas stay equal, and a resumed run revives exactly as an uninterrupted one.
"""
from __future__ import annotations

import torch
from torch import nn

from model.codec_network import ConvolutionalCodec
from model.ema_quantize import all_reduce_sum, broadcast_from_first
from model.quantize import learned_codebook


class CodeRevival:
    """Usage counts per code and the periodic revival of the rarely used ones."""

    def __init__(self, network: ConvolutionalCodec, window: int, min_uses: int, seed: int) -> None:
        if window < 1 or min_uses < 1:
            raise ValueError(f"revival needs a window and a use threshold of at least 1, got {window}, {min_uses}")
        self.network, self.window, self.min_uses, self.seed = network, window, min_uses, seed
        stages = network.quantizer.quantizers
        self.codebooks = [learned_codebook(stage) for stage in stages]
        self.codebook_size = max(c.num_embeddings for c in self.codebooks if c is not None)
        device = next(network.parameters()).device
        self.uses = torch.zeros(len(stages), self.codebook_size, dtype=torch.long, device=device)
        self.observed = 0  # steps counted since the last revival

    @classmethod
    def for_network(cls, network: nn.Module, window: int, min_uses: int, seed: int) -> "CodeRevival | None":
        """A revival for ``network``'s trainable learned codebooks, or ``None`` if off or none."""
        if window <= 0 or not isinstance(network, ConvolutionalCodec):
            return None
        codebooks = [learned_codebook(s) for s in network.quantizer.quantizers]
        if not any(c is not None and c.weight.requires_grad for c in codebooks):
            return None
        return cls(network, window, min_uses, seed)

    def observe(self, codes: torch.Tensor) -> None:
        """Count the codes ``[B, N, T]`` of one training step (every stage, dropped or kept)."""
        n = codes.shape[1]
        offsets = torch.arange(n, device=codes.device)[None, :, None] * self.codebook_size
        flat = (codes.detach() + offsets).flatten()
        self.uses[:n] += torch.bincount(flat, minlength=n * self.codebook_size).view(n, -1).to(self.uses.device)
        self.observed += 1

    def due(self) -> bool:
        """A whole window has been counted (a run resumed from an older checkpoint starts one)."""
        return self.observed >= self.window

    @torch.no_grad()
    def revive(self, real: torch.Tensor, optimizer: torch.optim.Optimizer, step: int) -> dict:
        """Move each stage's rare codes onto latents of ``real [B, 1, T]``; the event to report."""
        uses = all_reduce_sum(self.uses.clone())
        length = real.shape[-1]
        padded = nn.functional.pad(real.to(self.uses.device), (0, -length % self.network.hop_length))
        inputs = self.network.quantizer.stage_inputs(self.network.encoder_stack()(padded))
        picks = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        rare, revived = [], []
        for i, (stage, codebook) in enumerate(zip(self.network.quantizer.quantizers, self.codebooks)):
            if codebook is None or not codebook.weight.requires_grad:
                rare.append(0)
                revived.append(0)
                continue
            dead = torch.nonzero(uses[i, : codebook.num_embeddings] < self.min_uses).squeeze(1).cpu()
            rows = stage.code_vectors(inputs[i])
            count = min(dead.numel(), rows.shape[0])
            rare.append(int(dead.numel()))
            revived.append(count)
            if count == 0:
                continue
            chosen = dead[torch.randperm(dead.numel(), generator=picks)[:count]].to(codebook.weight.device)
            frames = torch.randperm(rows.shape[0], generator=picks)[:count].to(rows.device)
            fresh = broadcast_from_first(rows[frames].to(codebook.weight.dtype).contiguous())
            codebook.weight[chosen] = fresh
            _forget_moments(optimizer, codebook.weight, chosen)
        self.uses.zero_()
        self.observed = 0
        return {"event": "revival", "step": step, "rare": rare, "revived": revived,
                "min_uses": self.min_uses, "window": self.window}

    def state_dict(self) -> dict:
        return {"uses": self.uses.cpu(), "observed": self.observed}

    def load_state_dict(self, state: dict) -> None:
        uses = state["uses"]
        if tuple(uses.shape) != tuple(self.uses.shape):
            raise ValueError(f"code usage counts of shape {tuple(uses.shape)} do not fit this model's "
                             f"{tuple(self.uses.shape)}")
        self.uses.copy_(uses)
        self.observed = int(state["observed"])


def _forget_moments(optimizer: torch.optim.Optimizer, parameter: nn.Parameter, rows: torch.Tensor) -> None:
    """Zero Adam's running moments for ``rows`` of ``parameter`` (nothing if it has none yet)."""
    state = optimizer.state.get(parameter, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            state[key][rows] = 0

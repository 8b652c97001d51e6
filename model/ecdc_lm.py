"""The entropy model of ``.ecdc`` files written with the encodec package's ``--lm`` option.

Such a file codes each segment's codes with an arithmetic coder whose probabilities come
from a small causal transformer (the package's ``LMModel``, weights
``encodec_lm_24khz-1608e3c0.th`` / ``encodec_lm_48khz-7add9fc3.th``): at every frame it
predicts all codebooks at once from the previous frame's codes. Decoding must rebuild
exactly the coder's cumulative tables, so everything here follows the package's arithmetic
operation by operation (same layers and attention mask, the same float32 rounding of the
probabilities, the same integer range arithmetic); a different rounding anywhere would
decode garbage, not slightly different audio.

The network's widths and depth are read from the weights (state dict of ``LMModel``:
``emb.K``, ``linears.K``, ``transformer.norm_in``, ``transformer.layers.N.*`` as
``nn.TransformerEncoderLayer`` names them); its head count (8), feed-forward width (4 x)
and attention span (3.5 s of frames) are the package's fixed settings.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

HEADS = 8
TOTAL_RANGE_BITS = 24
CONTEXT_SECONDS = 3.5


def sin_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000) -> torch.Tensor:
    half = dim // 2
    adim = torch.arange(half, device=positions.device).view(1, 1, -1)
    phase = positions / (max_period ** (adim / (half - 1)))
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class StreamingLayer(nn.Module):
    """Post-norm transformer layer attending to its own past inputs (at most ``context`` back)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, HEADS, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, past: torch.Tensor, context: int) -> torch.Tensor:
        steps, held = x.shape[1], past.shape[1]
        keys = torch.cat([past, x], dim=1)
        delta = torch.arange(held, steps + held).view(-1, 1) - torch.arange(steps + held).view(1, -1)
        mask = ~((delta >= 0) & (delta <= context))
        x = self.norm1(x + self.self_attn(x, keys, keys, attn_mask=mask, need_weights=False)[0])
        return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))


class Transformer(nn.Module):
    def __init__(self, dim: int, layers: int, hidden: int) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(StreamingLayer(dim, hidden) for _ in range(layers))


class EcdcLanguageModel(nn.Module):
    """Probabilities ``[card, K]`` of each codebook's next code, one frame at a time."""

    def __init__(self, n_codebooks: int, card: int, dim: int, layers: int, hidden: int, context: int) -> None:
        super().__init__()
        self.transformer = Transformer(dim, layers, hidden)
        self.emb = nn.ModuleList(nn.Embedding(card + 1, dim) for _ in range(n_codebooks))
        self.linears = nn.ModuleList(nn.Linear(dim, card) for _ in range(n_codebooks))
        self.context = context
        self.reset()

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], frame_rate: float) -> "EcdcLanguageModel":
        """The network a state dict describes, with its weights (strictly)."""
        n_q = len([k for k in state if re.fullmatch(r"emb\.\d+\.weight", k)])
        layers = len({k.split(".")[2] for k in state if k.startswith("transformer.layers.")})
        if not n_q or "transformer.layers.0.linear1.weight" not in state:
            raise ValueError("not the weights of the encodec package's language model")
        card_plus_one, dim = state["emb.0.weight"].shape
        hidden = state["transformer.layers.0.linear1.weight"].shape[0]
        model = cls(n_q, card_plus_one - 1, dim, layers, hidden, int(CONTEXT_SECONDS * frame_rate))
        model.load_state_dict(state)
        return model.eval()

    def reset(self) -> None:
        self.states: list[torch.Tensor] | None = None
        self.offset = 0

    def next_probabilities(self, previous: torch.Tensor) -> torch.Tensor:
        """``previous`` codes ``[K]`` plus one (0 before the first frame) -> ``[card, K]``."""
        x = sum(self.emb[k](previous[k].view(1, 1)) for k in range(len(previous)))
        states = self.states or [torch.zeros_like(x[:, :1]) for _ in range(len(self.transformer.layers) + 1)]
        x = self.transformer.norm_in(x) + sin_embedding(torch.arange(1).view(1, -1, 1) + self.offset, x.shape[-1])
        new_states = []
        for state, layer in zip(states, self.transformer.layers):
            held = torch.cat([state, x], dim=1)
            x = layer(x, state, self.context)
            new_states.append(held[:, -self.context:, :])
        self.states, self.offset = new_states, self.offset + 1
        logits = torch.stack([self.linears[k](x) for k in range(len(previous))], dim=1)  # [1, K, 1, card]
        return torch.softmax(logits.permute(0, 3, 1, 2), dim=1)[0, :, :, 0]


def quantized_cdf(pdf: torch.Tensor, roundoff: float = 1e-8, min_range: int = 2) -> list[int]:
    """The coder's cumulative table of ``pdf`` (the package's ``build_stable_quantized_cdf``)."""
    pdf = (pdf / roundoff).floor() * roundoff
    total = 2**TOTAL_RANGE_BITS
    alpha = min_range * len(pdf) / total
    ranges = (((1 - alpha) * total) * pdf).floor().long() + min_range
    return torch.cumsum(ranges, dim=-1).tolist()


class ArithmeticDecoder:
    """The package's arithmetic decoder over a bit source (``read_bit() -> 0, 1 or None``)."""

    def __init__(self, read_bit: Callable[[], int | None]) -> None:
        self.read_bit = read_bit
        self.low = self.high = self.current = 0
        self.max_bit = -1

    def pull(self, cdf: list[int]) -> int | None:
        """The next symbol, or None when the bits run out."""
        while self.high - self.low + 1 < 2**TOTAL_RANGE_BITS:
            bit = self.read_bit()
            if bit is None:
                return None
            self.low, self.high = 2 * self.low, 2 * self.high + 1
            self.current, self.max_bit = 2 * self.current + bit, self.max_bit + 1
        scale = (self.high - self.low + 1) / 2**TOTAL_RANGE_BITS
        lo, hi = 0, len(cdf) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            low = self.low + int(math.ceil((cdf[mid - 1] if mid > 0 else 0) * scale))
            high = self.low + int(math.floor((cdf[mid] - 1) * scale))
            if self.current < low:
                hi = mid - 1
            elif self.current > high:
                lo = mid + 1
            else:
                self.low, self.high = low, high
                self._drop_common_prefix()
                return mid
        raise ValueError("arithmetic decoding failed (corrupt .ecdc file or other language-model weights)")

    def _drop_common_prefix(self) -> None:
        while self.max_bit >= 0 and self.low >> self.max_bit == self.high >> self.max_bit:
            top = (self.low >> self.max_bit) << self.max_bit
            self.low, self.high, self.current = self.low - top, self.high - top, self.current - top
            self.max_bit -= 1

"""SoundStream (Zeghidour et al. 2021): a streaming SEANet codec with EMA residual VQ.

Architecture, as in the paper: encoder ``Conv(k7, C)`` then four blocks of three residual
units (kernel 7, dilations 1, 3, 9, ELU) each followed by a strided convolution (strides
2, 4, 5, 8 at 24 kHz: 75 frames per second) doubling the channels, then ``Conv(k3, D)``;
the decoder mirrors it with transposed convolutions and ends with ``Conv(k7, 1)``. Causal
convolutions by default (SoundStream is a streaming codec), so the codes of a frame never
depend on future audio; ``causal=False`` centres them.

Quantizer: residual VQ with 1024-entry codebooks learned by EMA with Laplace smoothing,
k-means initialisation on the first batch and restart of dead codes
(:mod:`model.ema_quantize`), and quantizer dropout drawing n uniformly in 1..N for every
example (``quantizer_dropout = 1``), which is what makes one model serve every bitrate.

Denoising mode: ``film="encoder"`` or ``"decoder"`` adds FiLM conditioning at the
bottleneck on a binary "denoise" flag (see :class:`~model.seanet.SeanetCodec`).

Not fixed by the paper and chosen here: the latent dimension D = 128 (EnCodec's, which
follows SoundStream) and 24 codebooks (0.75 to 18 kbps at 75 frames per second, covering
the paper's 3 to 18 kbps).
"""
from __future__ import annotations

from dataclasses import dataclass

from model.seanet import EMA_LOSS_WEIGHTS, EMA_PAPER_RUN, SeanetCodec, SeanetCodecConfig
from model.training.recipes import TINY_RUN, FamilyRecipes, TrainingPreset


@dataclass(frozen=True)
class SoundStreamConfig(SeanetCodecConfig):
    """Only what differs from SEANet's EnCodec defaults (32 filters, ratios 8-5-4-2, causal)."""

    n_residual_layers: int = 3
    residual_kernel_size: int = 7
    dilation_base: int = 3
    compress: int = 1
    true_skip: bool = True
    encoder_last_kernel_size: int = 3
    lstm_layers: int = 0
    pad_mode: str = "zero"
    quantizer_dropout: float = 1.0
    n_codebooks: int = 24


class SoundStream(SeanetCodec):
    def __init__(self, config: SoundStreamConfig) -> None:
        if config.lstm_layers:
            raise ValueError("SoundStream is fully convolutional (lstm_layers must be 0)")
        super().__init__(config)

    def describe(self) -> dict:
        return {"architecture": "SoundStream (SEANet, EMA residual VQ)", **super().describe()}


PAPER_24K = TrainingPreset(
    name="soundstream-24k",
    family="soundstream",
    architecture=SoundStreamConfig().to_dict(),
    **EMA_PAPER_RUN,
    description="The SoundStream paper's 24 kHz causal codec (C=32, strides 2/4/5/8, 24 x 1024 EMA "
                "codebooks, quantizer dropout n ~ U{1..24}: 0.75-18 kbps); optimiser and data as the "
                "EnCodec paper's recipe (Adam 3e-4, betas 0.5/0.9, 64 x 1 s). A GPU job.",
)

TINY = TrainingPreset(
    name="soundstream-tiny",
    family="soundstream",
    architecture=SoundStreamConfig(sample_rate=16000, n_filters=2, dimension=8, ratios=(4, 4, 2),
                                   n_codebooks=3, codebook_size=32, dead_code_threshold=0.1,
                                   kmeans_iters=5).to_dict(),
    weights=EMA_LOSS_WEIGHTS,
    **TINY_RUN,
    description="A very small SoundStream, for tests.",
)

RECIPES = FamilyRecipes((PAPER_24K, TINY), fine_tune="soundstream-24k", tiny="soundstream-tiny")

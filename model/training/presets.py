"""Named training recipes: architecture, discriminator, loss weights, optimiser, data, schedule.

A preset is plain data, so a run's ``config.json`` records the whole recipe and ``--resume``
rebuilds exactly the same run.  The trainer itself is family-agnostic: it needs a generator
with the training forward ``recon, q = net(wave)`` (``q.commitment_loss``, ``q.codebook_loss``)
and a discriminator built from :class:`DiscriminatorSettings`.  Families that arrive later add
their presets to :data:`PRESETS` and name their fine-tuning recipe in :data:`FINE_TUNE_PRESET`;
a family whose discriminators differ from DAC's adds a ``kind`` to :func:`build_discriminator`.

The optimisation defaults are the DAC release's (``conf/final/44khz.yml`` and
``scripts/train.py``): AdamW with betas (0.8, 0.99), learning rate 1e-4 decayed by
``ExponentialLR(gamma=0.999996)`` every step, PyTorch's default AdamW weight decay (0.01), the
generator's gradient norm clipped at 1000 and the discriminator's at 10; loss weights mel 15,
adversarial 1, feature matching 2, codebook 1, commitment 0.25; 0.38 s excerpts normalised to
-16 LUFS.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from torch import nn

from model.discriminators import DEFAULT_BANDS, DEFAULT_FFT_SIZES, DEFAULT_PERIODS, Discriminator
from model.encodec import EncodecConfig
from model.hificodec import HifiCodecConfig
from model.presets import DAC_44KHZ_8KBPS, DEFAULT_DAC
from model.soundstream import SoundStreamConfig


class PresetError(ValueError):
    """An unknown preset or an invalid setting."""


@dataclass(frozen=True)
class LossWeights:
    mel: float = 15.0
    adversarial: float = 1.0
    feature_matching: float = 2.0
    codebook: float = 1.0
    commitment: float = 0.25


@dataclass(frozen=True)
class DiscriminatorSettings:
    kind: str = "dac"  # multi-period + multi-band complex STFT (model/discriminators.py)
    periods: tuple[int, ...] = DEFAULT_PERIODS
    fft_sizes: tuple[int, ...] = DEFAULT_FFT_SIZES
    bands: tuple[tuple[float, float], ...] = DEFAULT_BANDS
    width: float = 1.0  # hidden channel multiplier; cost falls with its square


@dataclass(frozen=True)
class TrainingPreset:
    name: str
    family: str
    architecture: dict  # the family's configuration (ignored when fine-tuning: --from wins)
    discriminator: DiscriminatorSettings = field(default_factory=DiscriminatorSettings)
    weights: LossWeights = field(default_factory=LossWeights)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    lr_gamma: float = 0.999996  # ExponentialLR, applied every step
    grad_clip_generator: float = 1e3
    grad_clip_discriminator: float = 10.0
    batch_size: int = 72
    excerpt_seconds: float = 0.38
    steps: int = 400_000
    gan_start_step: int = 0  # reconstruction-only losses before this step
    val_every: int = 1000
    ckpt_every: int = 1000
    keep: int = 3
    val_examples: int = 100
    val_seconds: float = 5.0
    log_every: int = 10
    loudness_lufs: float = -16.0  # excerpts are normalised to this loudness
    silence_lufs: float = -40.0  # quieter excerpts are skipped
    revival_window: int = 0  # steps between dead-code revivals of learned codebooks (0: off)
    revival_min_uses: int = 3  # a code used fewer times within the window is revived
    description: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingPreset":
        data = dict(data)
        disc = dict(data.pop("discriminator"))
        disc["periods"] = tuple(disc["periods"])
        disc["fft_sizes"] = tuple(disc["fft_sizes"])
        disc["bands"] = tuple(tuple(b) for b in disc["bands"])
        return cls(
            discriminator=DiscriminatorSettings(**disc),
            weights=LossWeights(**data.pop("weights")),
            betas=tuple(data.pop("betas")),
            **data,
        )

    def with_overrides(self, **changes) -> "TrainingPreset":
        """A copy with the given fields replaced (``None`` values are ignored)."""
        preset = replace(self, **{k: v for k, v in changes.items() if v is not None})
        preset.check()
        return preset

    def check(self) -> None:
        positive = {"batch_size": self.batch_size, "steps": self.steps, "val_every": self.val_every,
                    "ckpt_every": self.ckpt_every, "keep": self.keep, "val_examples": self.val_examples,
                    "log_every": self.log_every, "revival_min_uses": self.revival_min_uses}
        for name, value in positive.items():
            if value < 1:
                raise PresetError(f"{name} must be at least 1, got {value}")
        if not self.lr > 0:
            raise PresetError(f"the learning rate must be positive, got {self.lr}")
        if not 0 < self.lr_gamma <= 1:
            raise PresetError(f"the learning-rate decay per step must be within (0, 1], got {self.lr_gamma}")
        if not 0.05 <= self.excerpt_seconds <= 60:
            raise PresetError(f"excerpt length must be within 0.05..60 s, got {self.excerpt_seconds}")
        if self.gan_start_step < 0:
            raise PresetError(f"gan_start_step must be >= 0, got {self.gan_start_step}")
        if self.revival_window < 0:
            raise PresetError(f"the revival window must be >= 0 steps (0: off), got {self.revival_window}")


DAC_44K = TrainingPreset(
    name="dac-44k",
    family="dac",
    architecture=dict(DAC_44KHZ_8KBPS),
    description="The DAC paper's 44.1 kHz 8 kbps model and recipe (batch 72, 400 k steps; a GPU job).",
)

DEFAULT = TrainingPreset(
    name="default",
    family="dac",
    architecture=dict(DEFAULT_DAC),
    discriminator=DiscriminatorSettings(width=0.25),
    lr=3e-4,
    batch_size=8,
    steps=30_000,
    gan_start_step=10_000,
    val_every=1000,
    ckpt_every=200,
    keep=3,
    val_examples=24,
    val_seconds=2.0,
    revival_window=200,
    revival_min_uses=3,
    description="The bundled default model (DEFAULT_DAC), trained on a CPU in resumable sessions of a few hours.",
)
"""The recipe of the bundled default model, chosen for the most learning per CPU-second.

Measured on this 2-core machine, one thread, in CPU seconds (``benchmarks/bench_training.py``;
CPU time, because the machine is shared), batch 8 x 0.38 s:

* Discriminator width.  With DAC's full discriminator (42.5 M parameters) a GAN step costs
  25.2 CPU s against 2.3 s for the generator's mel-only step: 91 % of the time would go to the
  critic of a 2 M-parameter generator.  At width 1/4 (2.7 M parameters, the generator's size)
  a GAN step costs 6.2 s (4.1 s with ``--compile``), so the critic takes 57 %.  1/4 keeps the
  game balanced at a cost a CPU can carry.
* GAN warm-up.  A mel-only step costs 2.7 s (1.5 s compiled), about 40 % of a GAN step, and
  early on the discriminator has nothing useful to say about reconstructions that are still
  poor.  The first 10 000 steps (4 to 8 CPU-hours: two or three sessions) train
  reconstruction only, as many CPU codec recipes do; adversarial losses join afterwards.
* Learning rate.  Paired runs on the same 150 batches of the corpus (mel-only, same seed,
  compiled), mean training mel loss over steps 101-125 / 126-150: lr 1e-4 4.28 / 4.15,
  3e-4 3.79 / 3.71, 1e-3 4.49 / 4.53 (stalls).  3e-4, three times the release's rate for a
  ninth of its batch.
* Batch 8 x 0.38 s: the paper's excerpt length and a ninth of its batch, so that a step
  takes seconds, not a minute.
* Validation on 24 fixed 2 s excerpts every 1000 steps takes about 1.5 minutes (a few % of
  the time); a checkpoint every 200 steps (5 to 10 minutes) bounds the work lost to a crash.
* Dead-code revival every 200 steps (:mod:`model.training.code_revival`): a window is 52 800
  frames, about 52 per code if usage were uniform; codes used fewer than 3 times are moved onto
  latents of the batch.  Without it, the first 4 000 steps left 300-600 of each codebook's
  1 024 codes unused on validation and the lowest codebook entropy falling (5.4 to 4.2 bits).
"""

TINY = TrainingPreset(
    name="tiny",
    family="dac",
    architecture={
        "encoder_dim": 2, "encoder_rates": [2, 4, 4], "latent_dim": 16, "decoder_dim": 16,
        "decoder_rates": [4, 4, 2], "n_codebooks": 3, "codebook_size": 32, "codebook_dim": 4,
        "quantizer_dropout": 0.5, "sample_rate": 16000,
    },
    discriminator=DiscriminatorSettings(periods=(2, 3), fft_sizes=(512,), width=1 / 16),
    batch_size=2,
    excerpt_seconds=0.2,
    steps=6,
    gan_start_step=2,
    val_every=3,
    ckpt_every=2,
    keep=2,
    val_examples=2,
    val_seconds=0.5,
    log_every=1,
    description="A very small codec and discriminator, for tests: a step takes a few milliseconds.",
)

# The other families, from scratch.  All use the trainer's DAC losses and discriminator (mel
# distance, multi-period + multi-band STFT discriminator), not each paper's own; what each
# preset takes from its paper is said in its description.  The EMA families (SoundStream,
# EnCodec) have no codebook loss (the codebooks follow moving averages) and weigh the
# commitment loss 1, as the EnCodec release does.
_PAPER_OPTIMISER = dict(lr=3e-4, betas=(0.5, 0.9), weight_decay=0.0, lr_gamma=1.0)
_EMA_WEIGHTS = LossWeights(codebook=0.0, commitment=1.0)

SOUNDSTREAM_24K = TrainingPreset(
    name="soundstream-24k",
    family="soundstream",
    architecture=SoundStreamConfig().to_dict(),
    weights=_EMA_WEIGHTS,
    batch_size=64,
    excerpt_seconds=1.0,
    steps=600_000,
    **_PAPER_OPTIMISER,
    description="The SoundStream paper's 24 kHz causal codec (C=32, strides 2/4/5/8, 24 x 1024 EMA "
                "codebooks, quantizer dropout n ~ U{1..24}: 0.75-18 kbps); optimiser and data as the "
                "EnCodec paper's recipe (Adam 3e-4, betas 0.5/0.9, 64 x 1 s). A GPU job.",
)

ENCODEC_24K = TrainingPreset(
    name="encodec-24k",
    family="encodec",
    architecture=EncodecConfig(quantizer_dropout=1.0).to_dict(),
    weights=_EMA_WEIGHTS,
    batch_size=64,
    excerpt_seconds=1.0,
    steps=600_000,
    **_PAPER_OPTIMISER,
    description="The EnCodec 24 kHz release's architecture (SEANet + LSTM, 32 x 1024 EMA codebooks, "
                "1.5-24 kbps) and the paper's recipe (Adam 3e-4, betas 0.5/0.9, 64 x 1 s, 300 x 2000 "
                "steps); n ~ U{1..32} per example instead of one bandwidth per batch. A GPU job.",
)

HIFICODEC_24K = TrainingPreset(
    name="hificodec-24k",
    family="hificodec",
    architecture=HifiCodecConfig().to_dict(),
    lr=2e-4,
    betas=(0.5, 0.9),
    weight_decay=0.0,
    batch_size=16,
    excerpt_seconds=16000 / 24000,
    steps=600_000,
    description="HiFi-Codec's 24 kHz, 320-hop release (HiFi-GAN generator, 2 groups x 2 levels of "
                "1024 codes: 3 kbps), its optimiser (Adam 2e-4, betas 0.5/0.9) and 16000-sample "
                "excerpts; codebook and commitment weights 1 and 0.25 as the release. A GPU job.",
)

_TINY_RUN = dict(
    discriminator=DiscriminatorSettings(periods=(2, 3), fft_sizes=(512,), width=1 / 16),
    batch_size=2, excerpt_seconds=0.2, steps=6, gan_start_step=2, val_every=3, ckpt_every=2, keep=2,
    val_examples=2, val_seconds=0.5, log_every=1,
)

SOUNDSTREAM_TINY = TrainingPreset(
    name="soundstream-tiny",
    family="soundstream",
    architecture=SoundStreamConfig(sample_rate=16000, n_filters=2, dimension=8, ratios=(4, 4, 2),
                                   n_codebooks=3, codebook_size=32, dead_code_threshold=0.1,
                                   kmeans_iters=5).to_dict(),
    weights=_EMA_WEIGHTS,
    **_TINY_RUN,
    description="A very small SoundStream, for tests.",
)

ENCODEC_TINY = TrainingPreset(
    name="encodec-tiny",
    family="encodec",
    architecture=EncodecConfig(sample_rate=16000, n_filters=2, dimension=8, ratios=(4, 4, 2),
                               codebook_size=32, target_bandwidths=(2.5, 7.5), dead_code_threshold=0.1,
                               kmeans_iters=5, quantizer_dropout=1.0).to_dict(),
    weights=_EMA_WEIGHTS,
    **_TINY_RUN,
    description="A very small EnCodec-style codec (with its LSTMs), for tests.",
)

HIFICODEC_TINY = TrainingPreset(
    name="hificodec-tiny",
    family="hificodec",
    architecture=HifiCodecConfig(sample_rate=16000, encoder_dim=2, latent_dim=8, decoder_dim=16,
                                 rates=(4, 4, 2), kernel_sizes=(8, 8, 4), resblock_kernel_sizes=(3, 5),
                                 resblock_dilations=(1, 3), codebook_size=32).to_dict(),
    **_TINY_RUN,
    description="A very small HiFi-Codec (2 groups x 2 levels), for tests.",
)

PRESETS: dict[str, TrainingPreset] = {p.name: p for p in (
    DEFAULT, DAC_44K, TINY, SOUNDSTREAM_24K, ENCODEC_24K, HIFICODEC_24K,
    SOUNDSTREAM_TINY, ENCODEC_TINY, HIFICODEC_TINY)}

# The recipe used when fine-tuning a model of each family without --preset.
FINE_TUNE_PRESET: dict[str, str] = {
    "dac": "default", "soundstream": "soundstream-24k", "encodec": "encodec-24k", "hificodec": "hificodec-24k",
}


def preset(name: str) -> TrainingPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None


def fine_tune_preset(family: str) -> TrainingPreset:
    try:
        return preset(FINE_TUNE_PRESET[family])
    except KeyError:
        raise PresetError(f"no training preset for the {family!r} family yet") from None


def build_discriminator(settings: DiscriminatorSettings) -> nn.Module:
    if settings.kind == "dac":
        return Discriminator(settings.periods, settings.fft_sizes, settings.bands, settings.width)
    raise PresetError(f"unknown discriminator kind {settings.kind!r}")

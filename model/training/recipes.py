"""What a training recipe is: architecture, discriminator, loss weights, optimiser, data, schedule.

A recipe (a *preset* on the command line) is plain data, so a run's ``config.json`` records the
whole recipe and ``--resume`` rebuilds exactly the same run.  The trainer itself is
family-agnostic: it needs a generator with the training forward ``recon, q = net(wave)``
(``q.commitment_loss``, ``q.codebook_loss``) and a discriminator built from
:class:`DiscriminatorSettings`.  Each family's module holds its own recipes (a
:class:`FamilyRecipes`); :mod:`model.registry` looks them up by name.  A family whose
discriminators differ from DAC's adds a ``kind`` to :func:`build_discriminator`.

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


@dataclass(frozen=True)
class FamilyRecipes:
    """A family's recipes, the one used to fine-tune its models without ``--preset`` and a tiny one.

    The tiny recipe trains a very small model in a few milliseconds a step: the tests run every
    family through it.
    """

    all: tuple[TrainingPreset, ...]
    fine_tune: str
    tiny: str

    def __post_init__(self) -> None:
        names = [recipe.name for recipe in self.all]
        for role, name in (("fine-tuning", self.fine_tune), ("tiny", self.tiny)):
            if name not in names:
                raise PresetError(f"the {role} recipe {name!r} is not among the family's ({', '.join(names)})")


# The run settings of the recipes sized for a CPU: those of the bundled default model
# (model/dac.py explains each choice; docs/benchmarks.md has the measurements).
CPU_RUN = dict(
    discriminator=DiscriminatorSettings(width=0.25), lr=3e-4, batch_size=8, steps=30_000, gan_start_step=10_000,
    val_every=1000, ckpt_every=200, keep=3, val_examples=24, val_seconds=2.0, revival_window=200,
    revival_min_uses=3,
)

# The run settings of every family's tiny recipe.
TINY_RUN = dict(
    discriminator=DiscriminatorSettings(periods=(2, 3), fft_sizes=(512,), width=1 / 16),
    batch_size=2, excerpt_seconds=0.2, steps=6, gan_start_step=2, val_every=3, ckpt_every=2, keep=2,
    val_examples=2, val_seconds=0.5, log_every=1,
)


def build_discriminator(settings: DiscriminatorSettings) -> nn.Module:
    if settings.kind == "dac":
        return Discriminator(settings.periods, settings.fft_sizes, settings.bands, settings.width)
    raise PresetError(f"unknown discriminator kind {settings.kind!r}")

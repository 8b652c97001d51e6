"""Named architectures: the bundled default model and the published configurations."""
from __future__ import annotations

# The bundled default: DAC-style, 44.1 kHz mono, hop 512, 12 x 1024 codes of dimension 8
# (0.86 to 10.3 kbps). Cost lives at the high-rate ends (the first encoder block and the
# last decoder block run at 44.1 kHz), so the widths there are what set the speed: these
# run about 10x real time per CPU core for both encoding and decoding
# (benchmarks/bench_default_speed.py).
DEFAULT_DAC = {
    "encoder_dim": 12,
    "encoder_rates": [2, 4, 8, 8],
    "latent_dim": 256,
    "decoder_dim": 192,
    "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 12,
    "codebook_size": 1024,
    "codebook_dim": 8,
    "quantizer_dropout": 0.5,
    "sample_rate": 44100,
}

# The official Descript Audio Codec releases (for `info`, tests and benchmarks).
DAC_44KHZ_8KBPS = {
    "encoder_dim": 64, "encoder_rates": [2, 4, 8, 8], "decoder_dim": 1536, "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 9, "codebook_size": 1024, "codebook_dim": 8, "quantizer_dropout": 0.5, "sample_rate": 44100,
}


def default_untrained_config() -> dict:
    return dict(DEFAULT_DAC)

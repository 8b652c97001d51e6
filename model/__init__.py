"""Codecs, quantizers, losses and the inference engine. PyTorch and numpy only, no Qt.

Public entry point::

    from model import load_codec
    codec = load_codec("default")          # or a checkpoint path
    codes = codec.encode(wave)             # float32 [B, 1, T] -> int64 [B, N, F]
    wave_hat = codec.decode(codes[:, :n])  # -> float32 [B, 1, T']
"""
from model.codec import Codec
from model.loading import CheckpointError, load_codec

__all__ = ["Codec", "CheckpointError", "load_codec"]

"""Codecs, quantizers, losses and the inference engine. PyTorch and numpy only, no Qt.

Public entry point::

    from model import load_codec
    codec = load_codec("default")          # or a checkpoint path
    codes = codec.encode(wave)             # float32 [B, codec.channels, T] -> int64 [B, N, F]
    wave_hat = codec.decode(codes[:, :n])  # -> float32 [B, codec.channels, T']
    encoded = codec.encode_audio(wave)     # codes + side information (codec.side_info), for
    wave_hat = codec.decode(encoded.first(n))  # codecs that need it (EnCodec 48 kHz's scales)
"""
from model.codec import Codec
from model.loading import CheckpointError, load_codec

__all__ = ["Codec", "CheckpointError", "load_codec"]

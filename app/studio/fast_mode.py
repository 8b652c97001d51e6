"""The studio's fast mode: bfloat16 inference switched on for a loaded codec, with its measured
cost for the window to show.

The cost is the rise in mel distance of the round trip (all codebooks) over the first seconds
of the first demo clip, measured when the model loads, so the label states what this model
loses rather than a figure for some other one.
"""
from __future__ import annotations

from app.studio.model_catalog import demo_clips
from model.codec import Codec
from model.compression import read_model_input
from model.fast_mode import FastModeUnavailable, mel_cost

COST_SECONDS = 2.0


def enable_fast_mode(codec: Codec) -> str:
    """Switch fast mode on; the label the window shows, e.g. "fast mode (bf16): mel +0.14"
    (or why it stays off: the codec then keeps computing exactly)."""
    try:
        codec.set_fast_mode(True)
    except FastModeUnavailable:
        return "fast mode unavailable for this model"
    clips = demo_clips()
    if not clips:
        return f"fast mode ({codec.fast_mode})"
    wave = read_model_input(codec, clips[0])[0][:1, :, : int(COST_SECONDS * codec.sample_rate)]
    cost = mel_cost(codec, wave)
    return f"fast mode ({codec.fast_mode}): mel {cost:+.2f}"

"""A procedural music-like clip: chords, a bass line, hats and kicks, deterministic; folders of them.

Tests, benchmarks and screenshots need realistic material (harmonics, transients, noise,
stereo) without shipping recordings; this makes it from a seed in milliseconds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model.audio_io import write_audio


def music_clip(seconds: float = 4.0, sample_rate: int = 44100, channels: int = 1, seed: int = 0) -> np.ndarray:
    """``[channels, samples]`` float32 peaking near -3 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    beat = 0.5  # 120 bpm
    out = np.zeros((channels, n), dtype=np.float64)
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 311.13)]
    for bar_start in np.arange(0, seconds, 4 * beat):
        chord = chords[int(bar_start / (4 * beat)) % len(chords)]
        span = slice(*np.searchsorted(t, (bar_start, bar_start + 4 * beat)))  # the bar's samples (t is sorted)
        local = t[span] - bar_start
        env = np.minimum(1, local / 0.02) * np.exp(-local / 1.5)
        for k, f in enumerate(chord):
            for h in range(1, 6):
                tone = np.sin(2 * np.pi * f * h * local + k) * env * 0.08 / h
                for c in range(channels):
                    out[c, span] += tone * (1 + 0.3 * (c - 0.5) * (k - 1))
        bass = np.sin(2 * np.pi * chord[0] / 2 * local) * np.exp(-local / 0.8) * 0.25
        out[:, span] += bass
    for hit in np.arange(0, seconds, beat / 2):
        i = int(hit * sample_rate)
        length = min(n - i, int(0.06 * sample_rate))
        hat = rng.standard_normal((channels, length)) * np.exp(-np.arange(length) / (0.012 * sample_rate)) * 0.12
        out[:, i : i + length] += np.diff(hat, prepend=0, axis=1)
    for hit in np.arange(0, seconds, beat):
        i = int(hit * sample_rate)
        length = min(n - i, int(0.25 * sample_rate))
        local = np.arange(length) / sample_rate
        kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-local / 0.03)) * local) * np.exp(-local / 0.12) * 0.5
        out[:, i : i + length] += kick
    out *= 0.7 / max(1e-9, np.abs(out).max())
    return out.astype(np.float32)


def write_music_clip(path: str | Path, seconds: float = 4.0, sample_rate: int = 44100, channels: int = 1,
                     seed: int = 0) -> Path:
    write_audio(path, music_clip(seconds, sample_rate, channels, seed), sample_rate)
    return Path(path)


def write_recordings_folder(root: str | Path, groups: tuple[tuple[str, int, float], ...] = (
        ("speech", 16000, 2.0), ("music", 44100, 3.0), ("field", 22050, 2.0)), files_per_group: int = 2) -> Path:
    """A folder of recordings to train on: one sub-folder per ``(name, sample rate, seconds)``,
    mono and stereo files alternating, every file a different seed."""
    root = Path(root)
    for g, (name, rate, seconds) in enumerate(groups):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(files_per_group):
            write_music_clip(root / name / f"take{k + 1}.wav", seconds, rate, channels=1 + k % 2, seed=10 * g + k)
    return root


def write_burst_clip(path: str | Path, seconds: float, burst_start: float, burst_seconds: float,
                     sample_rate: int = 8000, channels: int = 2) -> str:
    """Quiet noise with a burst ten times louder from ``burst_start`` for ``burst_seconds``: a clip
    whose loudest part is known."""
    rng = np.random.default_rng(3)
    samples = 0.01 * rng.standard_normal((channels, int(seconds * sample_rate)))
    first = int(burst_start * sample_rate)
    samples[:, first:first + int(burst_seconds * sample_rate)] *= 10
    write_audio(path, samples.astype(np.float32), sample_rate)
    return str(path)

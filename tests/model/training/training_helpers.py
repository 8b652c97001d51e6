"""Generated audio folders and command helpers for the trainer tests (tiny preset, one thread)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"


def write_tone(path: Path, rate: int, seconds: float, channels: int = 1, freq: float = 440.0,
               amplitude: float = 0.3, noise: float = 0.02, seed: int = 0) -> None:
    """A sine (a different frequency per channel) plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    cols = [amplitude * np.sin(2 * np.pi * freq * (c + 1) * t) + noise * rng.standard_normal(t.size)
            for c in range(channels)]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack(cols, axis=1).astype(np.float32), rate)


def make_audio_folder(root: Path, files_per_group: int = 2) -> Path:
    """speech/ music/ general/ with mixed rates, channel counts and formats, plus one broken file."""
    specs = [("speech", 16000, 1, "wav"), ("music", 48000, 2, "flac"), ("general", 22050, 1, "ogg")]
    for g, (group, rate, channels, ext) in enumerate(specs):
        for k in range(files_per_group):
            write_tone(root / group / f"clip{k}.{ext}", rate, 1.0 + 0.25 * k, channels,
                       freq=200.0 * (g + 1) + 50 * k, seed=10 * g + k)
    (root / "general" / "broken.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    return root


def tiny_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--preset", "tiny", "--threads", "1",
            "--workers", "0", *extra]


def cli_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return env


def run_cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def initial_tiny_generator_state() -> dict:
    """The weights a fresh tiny run starts from (the trainer seeds with the run's seed, 0)."""
    import torch

    from model.registry import family, preset

    torch.manual_seed(0)
    return family("dac").build(preset("tiny").architecture).state_dict()

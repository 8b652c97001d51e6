"""Our inference against the reference packages: speed, peak memory and exactness, one run.

For each family named on the command line, the reference package builds the release
architecture with seeded random weights (the real checkpoints are not needed), the weights
are written in the release's file layout, and two child processes -- one running the
reference package, one running our ``load_codec`` on that file -- each time encoding and
decoding the same ``--seconds`` of audio (best of ``--repeats``) and report their resident
memory after loading and their high-water mark (``VmHWM``: nothing of this parent counts).
The sides alternate for ``--rounds`` rounds (best time, largest memory of each side), so a
change in the machine's load during the run falls on both.
The parent then compares the codes and the decoded audio of the two sides.

Families (``FAMILIES``): snac24, snac32, snac44 (the ``snac`` package), mimi (``moshi``'s
MimiModel), encodec48 (``encodec``'s 48 kHz stereo model), dac44 (``descript-audio-codec``'s
44.1 kHz 8 kbps model). Runs in the reference
environment ($REFENV, built by scripts/make_reference_env.sh):

    PYTHONPATH=. $REFENV/bin/python benchmarks/bench_vs_reference.py mimi encodec48 snac24

Figures: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from bench_dac_speed import _interleaved

SNAC_RELEASES = {  # the Hugging Face releases' config.json (hubertsiuzdak/snac_24khz, _32khz, _44khz)
    24: dict(sampling_rate=24000, encoder_dim=48, encoder_rates=[2, 4, 8, 8], decoder_dim=1024,
             decoder_rates=[8, 8, 4, 2], attn_window_size=None, codebook_size=4096, codebook_dim=8,
             vq_strides=[4, 2, 1], noise=True, depthwise=True),
    32: dict(sampling_rate=32000, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
             decoder_rates=[8, 8, 3, 2], attn_window_size=32, codebook_size=4096, codebook_dim=8,
             vq_strides=[8, 4, 2, 1], noise=True, depthwise=True),
    44: dict(sampling_rate=44100, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
             decoder_rates=[8, 8, 3, 2], attn_window_size=32, codebook_size=4096, codebook_dim=8,
             vq_strides=[8, 4, 2, 1], noise=True, depthwise=True),
}


@dataclass(frozen=True)
class Family:
    """How the reference package builds, stores, reloads and runs one release.

    ``create(folder)`` builds seeded random weights and writes them in the release's layout,
    returning the path ``load_codec`` takes; ``load(path)`` rebuilds the reference model from
    that file; ``encode``/``decode`` run it on its own code format and ``common`` turns its codes
    into ours (``[B, N, F]``, the finest rate for multi-rate codes) for the comparison. The
    benchmark's signal is a whole number of ``unit`` samples, so both sides code the same frames.
    """

    label: str
    sample_rate: int
    channels: int
    create: Callable[[Path], Path]
    load: Callable[[Path], Any]
    encode: Callable[[Any, torch.Tensor], Any]
    decode: Callable[[Any, Any], torch.Tensor]
    common: Callable[[Any], torch.Tensor]
    unit: int = 1  # the reference pads its input to a multiple of this many samples


@torch.no_grad()
def _draw_codebooks(chains: list[tuple[list, torch.Tensor]], assign: Callable[[Any, torch.Tensor], None]) -> None:
    """Seeded codewords for each residual chain ``(levels, residual [frames, dim])``, level by
    level, drawn around that level's residual of a calibration signal: the releases' codebooks
    are fitted by k-means, so all-zero or unscaled ones would make every code alike and the
    timing unrealistic. ``assign(codebook, words)`` stores them in the package's buffers."""
    generator = torch.Generator().manual_seed(1)
    for levels, residual in chains:
        for level in levels:
            book = level._codebook
            size = book.embedding_sum.shape[0] if hasattr(book, "embedding_sum") else book.embed.shape[0]
            words = residual.mean(0) + residual.std(0) * torch.randn(size, residual.shape[1], generator=generator)
            assign(book, words)
            residual = residual - book.decode(book.encode(residual))


def _frames(latent: torch.Tensor) -> torch.Tensor:
    return latent.transpose(1, 2).reshape(-1, latent.shape[1])


def _calibration(rate: int, channels: int) -> torch.Tensor:
    return _signal(1.0, rate, channels, seed=1)


# -- SNAC --------------------------------------------------------------------------------------
def _snac(release: int) -> Family:
    config = SNAC_RELEASES[release]

    def create(folder: Path) -> Path:
        import snac

        torch.manual_seed(0)
        model = snac.SNAC(**config)
        with torch.no_grad():  # the reference draws fresh noise at every decode: silence it in both
            for block in model.modules():
                if isinstance(block, snac.layers.NoiseBlock):
                    block.linear.parametrizations.weight.original0.zero_()
        (folder / "config.json").write_text(json.dumps(config))
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        return folder

    def load(path: Path):
        import snac

        model = snac.SNAC(**config)
        model.load_state_dict(torch.load(path / "pytorch_model.bin", weights_only=True))
        return model.eval()

    def common(codes: list) -> torch.Tensor:
        return torch.stack([c.repeat_interleave(s, dim=-1) for c, s in zip(codes, config["vq_strides"])], 1)

    hop = math.prod(config["encoder_rates"])
    unit = hop * math.lcm(config["vq_strides"][0], config["attn_window_size"] or 1)
    return Family(f"SNAC {release} kHz", config["sampling_rate"], 1, create, load,
                  lambda model, wave: model.encode(wave), lambda model, codes: model.decode(codes), common, unit)


# -- Mimi --------------------------------------------------------------------------------------
def _mimi_model():
    from moshi.models import loaders

    return loaders.get_mimi(None, num_codebooks=32).eval()


def _mimi_assign(book, words: torch.Tensor) -> None:
    book.embedding_sum.copy_(words)
    book.cluster_usage.fill_(1.0)
    book._initialized.fill_(1.0)
    book._embedding = None  # the package caches the quotient


def _mimi_create(folder: Path) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = _mimi_model()
    with torch.no_grad():
        latent = model._encode_to_unquantized_latent(_calibration(24000, 1))
        chains = (model.quantizer.rvq_first, model.quantizer.rvq_rest)
        _draw_codebooks([(chain.vq.layers, _frames(chain.input_proj(latent))) for chain in chains], _mimi_assign)
    state = {}  # the release file's attention names (moshi 0.2.13 maps them when loading)
    for key, value in model.state_dict().items():
        key = key.replace(".self_attn.in_projs.0.weight", ".self_attn.in_proj_weight")
        key = key.replace(".self_attn.out_projs.0.weight", ".self_attn.out_proj.weight")
        state[key] = value.contiguous()
    path = folder / "tokenizer-e351c8d8-checkpoint125.safetensors"
    save_file(state, str(path))
    return path


def _mimi_load(path: Path):
    from safetensors.torch import load_file

    model = _mimi_model()
    model.load_state_dict(load_file(str(path)))
    return model


MIMI = Family("Mimi", 24000, 1, _mimi_create, _mimi_load, lambda model, wave: model.encode(wave),
              lambda model, codes: model.decode(codes), lambda codes: codes)


# -- EnCodec 48 kHz ------------------------------------------------------------------------------
def _encodec48_model():
    from encodec import EncodecModel

    model = EncodecModel.encodec_model_48khz(pretrained=False)
    model.set_target_bandwidth(24.0)
    return model


def _encodec48_assign(book, words: torch.Tensor) -> None:
    book.embed.copy_(words)
    book.cluster_size.fill_(1.0)
    book.embed_avg.copy_(words)
    book.inited.fill_(1.0)


def _encodec48_create(folder: Path) -> Path:
    torch.manual_seed(0)
    model = _encodec48_model()
    with torch.no_grad():
        x = _calibration(48000, 2)
        scale = 1e-8 + x.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt()  # as the package
        _draw_codebooks([(model.quantizer.vq.layers, _frames(model.encoder(x / scale)))], _encodec48_assign)
    path = folder / "encodec_48khz-7e698e3e.th"
    torch.save(model.state_dict(), path)
    return path


def _encodec48_load(path: Path):
    model = _encodec48_model()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


ENCODEC48 = Family("EnCodec 48 kHz stereo", 48000, 2, _encodec48_create, _encodec48_load,
                   lambda model, wave: model.encode(wave), lambda model, frames: model.decode(frames),
                   lambda frames: torch.cat([codes for codes, _ in frames], dim=-1))

# -- DAC 44.1 kHz ---------------------------------------------------------------------------------
DAC44 = dict(encoder_dim=64, encoder_rates=[2, 4, 8, 8], decoder_dim=1536, decoder_rates=[8, 8, 4, 2],
             n_codebooks=9, codebook_size=1024, codebook_dim=8, sample_rate=44100)  # the 8 kbps release


def _dac44_create(folder: Path) -> Path:
    import dac

    torch.manual_seed(0)
    path = folder / "weights.pth"
    dac.DAC(**DAC44).save(str(path), package=False)
    return path


def _dac44_load(path: Path):
    import dac

    return dac.DAC.load(str(path)).eval()


DAC44_FAMILY = Family("DAC 44.1 kHz", 44100, 1, _dac44_create, _dac44_load,
                      lambda model, wave: model.encode(wave)[1],
                      lambda model, codes: model.decode(model.quantizer.from_codes(codes)[0]),
                      lambda codes: codes, unit=math.prod(DAC44["encoder_rates"]))

FAMILIES: dict[str, Family] = {"snac24": _snac(24), "snac32": _snac(32), "snac44": _snac(44),
                               "mimi": MIMI, "encodec48": ENCODEC48, "dac44": DAC44_FAMILY}


# -- measurement ---------------------------------------------------------------------------------
def _signal(seconds: float, rate: int, channels: int, seed: int = 0, unit: int = 1) -> torch.Tensor:
    """A rising chirp with a little noise, ``[1, channels, T]`` (channels a fifth apart), ``T`` the
    nearest whole number of ``unit`` samples."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(max(1, round(seconds * rate / unit)) * unit) / rate
    rows = [0.3 * torch.sin(2 * torch.pi * 220 * (1 + 0.5 * c) * t * (1 + t)) for c in range(channels)]
    return (torch.stack(rows) + 0.05 * torch.randn(channels, t.numel(), generator=g))[None]


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The best time of ``repeats`` calls of ``fn`` and its last result."""
    best, out = _interleaved({"fn": fn}, repeats)
    return best["fn"], out["fn"]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(field + ":")).split()[1]) / 1024


def _run_side(family: Family, side: str, path: Path, wave_path: Path, out: Path, repeats: int) -> None:
    """One side in this (child) process: load, time, save outputs and print figures as JSON."""
    wave = torch.load(wave_path, weights_only=True)
    if side == "reference":
        model = family.load(path)
        encode, common = (lambda: family.encode(model, wave)), family.common
        decode_of = lambda codes: family.decode(model, codes)  # noqa: E731
        parameters = sum(p.numel() for p in model.parameters())
    else:
        from model import load_codec

        codec = load_codec(path)
        encode, common = (lambda: codec.encode_audio(wave)), (lambda encoded: encoded.codes)
        decode_of = codec.decode
        parameters = codec.n_parameters()
    loaded = _status_mb("VmRSS")
    with torch.inference_mode():
        encode_s, codes = best_time(encode, repeats)
        decode_s, audio = best_time(lambda: decode_of(codes), repeats)
    torch.save({"codes": common(codes).long(), "audio": audio}, out)
    print(json.dumps(dict(encode=encode_s, decode=decode_s, loaded=loaded, peak=_status_mb("VmHWM"),
                          parameters=parameters)))


def _child(name: str, side: str, path: Path, wave_path: Path, out: Path, args: argparse.Namespace) -> dict:
    done = subprocess.run([sys.executable, __file__, name, "--side", side, "--path", str(path), "--wave",
                           str(wave_path), "--out", str(out), "--repeats", str(args.repeats),
                           "--threads", str(args.threads)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if done.returncode:
        raise SystemExit(f"{name} {side} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _best_of_rounds(rounds: list[dict]) -> dict:
    """The fastest times and the largest memory figures of a side's child processes."""
    best = {key: min(r[key] for r in rounds) for key in ("encode", "decode")}
    return {**rounds[0], **best, **{key: max(r[key] for r in rounds) for key in ("loaded", "peak")}}


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def compare(name: str, args: argparse.Namespace) -> None:
    family = FAMILIES[name]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = family.create(folder)
        wave_path = folder / "wave.pt"
        wave = _signal(args.seconds, family.sample_rate, family.channels, unit=family.unit)
        torch.save(wave, wave_path)
        seconds = wave.shape[-1] / family.sample_rate
        load_before = _load()
        runs: dict[str, list[dict]] = {"reference": [], "ours": []}
        for _ in range(args.rounds):  # alternated, so a change of the machine's load hits both sides
            for side in runs:
                runs[side].append(_child(name, side, path, wave_path, folder / f"{side}.pt", args))
        ref, ours = (_best_of_rounds(runs[side]) for side in runs)
        a, b = (torch.load(folder / f"{side}.pt", weights_only=True) for side in runs)
    print(f"{family.label} release architecture ({ours['parameters'] / 1e6:.1f} M parameters, seeded random "
          f"weights), {seconds:.2f} s of audio, {args.threads} thread(s), best of {args.repeats} "
          f"in each of {args.rounds} alternated rounds per side; "
          f"load average {load_before} before, {_load()} after")
    print(f"{'':22}{'reference':>12}{'ours':>12}{'ours/ref':>10}")
    for key in ("encode", "decode"):
        print(f"{key + ' (x real time)':22}{seconds / ref[key]:>11.2f}x{seconds / ours[key]:>11.2f}x"
              f"{ref[key] / ours[key]:>9.2f}x")
    for key, label in (("loaded", "RSS loaded (MB)"), ("peak", "peak RSS (MB)")):
        print(f"{label:22}{ref[key]:>12.0f}{ours[key]:>12.0f}{ours[key] / ref[key]:>9.2f}x")
    same = a["codes"].shape == b["codes"].shape and torch.equal(a["codes"], b["codes"])
    differing = "" if same else f" ({(a['codes'] != b['codes']).float().mean().item():.2%} of codes differ)" \
        if a["codes"].shape == b["codes"].shape else f" (shapes {tuple(a['codes'].shape)} / {tuple(b['codes'].shape)})"
    n = min(a["audio"].shape[-1], b["audio"].shape[-1])
    print(f"codes identical: {same}{differing}; max |audio difference|: "
          f"{(a['audio'][..., :n] - b['audio'][..., :n]).abs().max().item():.2e}\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("families", nargs="+", choices=sorted(FAMILIES))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=2, help="child processes per side, alternated (default 2)")
    parser.add_argument("--side", choices=("reference", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--wave", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.side:
        _run_side(FAMILIES[args.families[0]], args.side, args.path, args.wave, args.out, args.repeats)
        return
    for name in args.families:
        compare(name, args)


if __name__ == "__main__":
    main()

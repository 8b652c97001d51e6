"""The command-line tasks behind ``rvq-studio encode | decode | eval | info | train | export``.

Kept apart from argument parsing so that ``rvq-studio --help`` answers without importing
torch.
"""
from __future__ import annotations

import argparse
import json
import sys

from app.cli.devices import checked_device
from app.cli.output_paths import output_folder, output_path, warn_unless_suffix
from app.cli.progress_bar import TerminalProgress
from app.cli.terminal_text import printable
from app.training.summary import summary_lines
from model import Codec, load_codec
from model.compression import compress_file, decompress_file, read_model_input
from model.ecdc_format import decompress_ecdc_file, is_ecdc
from model.evaluation import evaluate
from model.listening_metrics import resolve as resolve_metrics
from model.onnx_export import export_onnx, require_exporter
from model.training.exported_model import read_training_summary
from model.windowed_quality import WINDOW_SECONDS


def _load(args: argparse.Namespace) -> Codec:
    codec = load_codec(args.model, device=checked_device(args.device))
    if args.fast:
        codec.set_fast_mode(True)
    return codec


def _codebooks_for(codec: Codec, n: int | None, kbps: float | None) -> int | None:
    if n is not None:
        if not 1 <= n <= codec.n_codebooks:
            raise ValueError(f"--codebooks must be in 1..{codec.n_codebooks} for {codec.name}")
        return n
    if kbps is not None:
        fitting = [k for k in range(1, codec.n_codebooks + 1) if codec.kbps(k) <= kbps + 1e-9]
        if not fitting:
            raise ValueError(f"--kbps {kbps:g} is below the lowest bitrate of {codec.name} "
                             f"({codec.kbps(1):.2f} kbps with one codebook)")
        return fitting[-1]
    return None


def run_encode(args: argparse.Namespace) -> int:
    out = output_path(args.output, args.input, ".rvq")
    warn_unless_suffix(out, ".rvq")
    codec = _load(args)
    n = _codebooks_for(codec, args.codebooks, args.kbps)
    report = compress_file(codec, args.input, out, n, normalize=not args.no_normalize,
                           entropy_coding=not args.raw, progress=TerminalProgress("encoding"))
    used = n or codec.n_codebooks
    coding = (f"range-coded, {report.saving_percent:.1f}% smaller than bit-packed"
              if report.entropy_coded else "bit-packed")
    print(f"{printable(str(out))}: {report.file_bytes} bytes ({report.header_bytes} header), {used} codebooks, "
          f"{codec.kbps(used):.2f} kbps nominal, {coding}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    """Decode a .rvq file, or an .ecdc file of the encodec package (told apart by content)."""
    out = output_path(args.output, args.input, ".wav")
    codec = _load(args)
    if is_ecdc(args.input):
        audio = decompress_ecdc_file(codec, args.input, out, args.codebooks)
    else:
        audio = decompress_file(codec, args.input, out, args.codebooks, progress=TerminalProgress("decoding"))
    print(f"{printable(str(out))}: {audio.duration:.2f} s, {audio.channels} channel(s), {audio.sample_rate} Hz")
    return 0


_EVAL_TITLES = {"mel_distance": "mel", "stft_distance": "stft", "si_sdr": "SI-SDR", "si_sdr_aligned": "aligned",
                "delay_samples": "delay"}


def _eval_cell(value: float | None, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}d}" if isinstance(value, int) else f"{value:>{width}.3f}"


def run_eval(args: argparse.Namespace) -> int:
    metrics = [metric.name for metric in resolve_metrics(args.metrics)]
    if args.worst < 0:
        raise ValueError("--worst must be 0 or more")
    codec = _load(args)
    reference, audio = read_model_input(codec, args.input)
    encoded = codec.encode_audio(reference, progress=TerminalProgress("encoding"))
    result = evaluate(codec, reference, encoded, progress=TerminalProgress("evaluating"), metrics=metrics,
                      worst=args.worst)
    if args.json:
        print(json.dumps({"model": codec.name, "file": str(args.input), **result.to_dict()}, indent=2))
        return 0
    fast = f", fast mode ({codec.fast_mode})" if codec.fast_mode else ""
    print(f"{printable(codec.name)} on {printable(str(args.input))} ({audio.duration:.1f} s, {audio.channels} ch{fast})")
    keys = [key for key in result.rows[0].to_dict() if key not in ("n_codebooks", "kbps", "worst_windows")]
    titles = [_EVAL_TITLES.get(key, key) for key in keys]
    widths = [max(len(title), 7) for title in titles]
    print(f"{'n':>3} {'kbps':>7} " + " ".join(f"{t:>{w}}" for t, w in zip(titles, widths)))
    for r in result.rows:
        values = r.to_dict()
        print(f"{r.n_codebooks:>3} {r.kbps:>7.2f} " + " ".join(_eval_cell(values[k], w) for k, w in zip(keys, widths)))
    for name, reason in result.unavailable.items():
        print(f"{name}: not measured: {printable(reason)}")
    if args.worst:
        print(f"worst {WINDOW_SECONDS:g} s windows by mel distance (start-end in s: distance):")
        for r in result.rows:
            print(f"{r.n_codebooks:>3}  " + ", ".join(f"{w.start:.2f}-{w.end:.2f}: {w.mel_distance:.3f}"
                                                       for w in r.worst_windows))
    entropies = " ".join(f"{h:.2f}" for h in result.entropy_bits)
    print(f"codebook usage entropy (bits of {codec.bits_per_code:.0f}): {entropies}")
    print(f"bitrate efficiency: {result.bitrate_efficiency:.1%}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    codec = load_codec(args.model)
    info = codec.describe()
    training = read_training_summary(args.model) if args.model != "default" else None
    if args.json:
        print(json.dumps({**info, "training": training} if training else info, indent=2))
        return 0
    lo, hi = info.pop("kbps_range")
    print(printable(str(info.pop("name"))))
    print(f"  family        {info.pop('family')} ({printable(str(info.pop('architecture', '')))})")
    print(f"  sample rate   {info.pop('sample_rate')} Hz, hop {info.pop('hop_length')} "
          f"({info.pop('frame_rate'):.2f} frames/s)")
    print(f"  codebooks     {info.pop('n_codebooks')} x {info.pop('codebook_size')} entries")
    print(f"  bitrate       {lo:.2f} .. {hi:.2f} kbps")
    print(f"  parameters    {info.pop('parameters') / 1e6:.2f} M")
    print(f"  trained       {'yes' if info.pop('trained') else 'no (random weights)'}")
    for key, value in info.items():
        print(f"  {printable(str(key)):<13} {printable(str(value))}")
    if training:
        print("  training      " + "\n                ".join(map(printable, summary_lines(training))))
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train or fine-tune; exits 0 when finished or stopped by a signal (after a checkpoint)."""
    from model.training.loop import train
    from model.training.progress import HumanReporter, JsonLinesReporter, MultiReporter
    from model.training.run_config import TrainingOptions, parse_freeze

    reporters = []
    if args.json_progress:
        reporters.append(JsonLinesReporter(sys.stdout))
    if not args.json_progress or sys.stderr.isatty():
        reporters.append(HumanReporter(sys.stderr))
    reporter = MultiReporter(*reporters)
    if args.workers < 0:
        raise ValueError("--workers must be 0 or more")
    if args.threads is not None and args.threads < 1:
        raise ValueError("--threads must be at least 1")
    options = TrainingOptions(
        out=args.out, data=args.data, val=args.val, from_model=args.from_model, preset=args.preset,
        steps=args.steps, batch=args.batch, lr=args.lr, lr_gamma=args.lr_gamma, excerpt_seconds=args.excerpt_seconds,
        gan_start=args.gan_start, val_every=args.val_every, ckpt_every=args.ckpt_every, keep=args.keep,
        log_every=args.log_every, revive_every=args.revive_every, freeze=parse_freeze(args.freeze), seed=args.seed, resume=args.resume,
        workers=args.workers, threads=args.threads, device=args.device, json_progress=args.json_progress,
        compile=args.compile,
    )
    try:
        train(options, reporter)
    except (ValueError, OSError, RuntimeError) as exc:
        if args.json_progress:
            JsonLinesReporter(sys.stdout).emit({"event": "error", "message": str(exc).strip().splitlines()[0]})
        raise
    return 0


def run_export(args: argparse.Namespace) -> int:
    require_exporter()
    folder = output_folder(args.onnx, args.model)
    codec = load_codec(args.model)
    print(f"exporting {printable(codec.name)} to ONNX...", file=sys.stderr)
    details = export_onnx(codec, folder)
    print(f"{printable(str(folder))}: encoder.onnx, decoder.onnx, codec.json ({details['family']}, "
          f"{details['sample_rate']} Hz, {details['n_codebooks']} codebooks, opset {details['opset']})")
    return 0

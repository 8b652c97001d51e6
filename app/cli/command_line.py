"""The ``rvq-studio`` command: the studio window by default, or a command-line task.

Every command exits 0 on success; bad input (missing or non-audio file, empty audio, wrong
model, unwritable output, a mistyped option or command) prints one line
``rvq-studio: error: ...`` to stderr and exits 2, never a traceback, and a mistyped command
never opens the window.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from app.cli.model_commands import add_models_parser
from app.cli.terminal_text import printable

COMMANDS = ("encode", "decode", "eval", "info", "train", "models", "export", "compare")

DESCRIPTION = """\
RVQ Studio: audition, inspect, compress and train neural audio codecs.

  rvq-studio [FILE] [--model M]     open the studio (optionally on FILE)
  rvq-studio encode IN -o OUT.rvq   compress audio to a .rvq file
  rvq-studio decode IN.rvq -o OUT   decompress a .rvq file to WAV/FLAC
  rvq-studio eval IN                quality at every codebook count
  rvq-studio compare IN --codec M:n --opus KBPS   codecs side by side on files
  rvq-studio info [M]               describe a model
  rvq-studio train --data DIR --out RUN   train or fine-tune a codec
  rvq-studio models list|get|remove       official checkpoints: what exists, download, remove
  rvq-studio export M --onnx DIR    a model as ONNX graphs (for onnxruntime)

MODEL (M) is "default" (the bundled model), an official DAC checkpoint (.pth),
or a model file exported by RVQ Studio (.safetensors). Run 'rvq-studio COMMAND -h'
for a command's options."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: the problem and where help is, not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)} (see '{self.prog} -h')\n")


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="default", metavar="M",
                   help='model file or "default" (the bundled model)')
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--fast", action="store_true",
                   help="fast mode: bfloat16 inference, faster on CPUs with AVX-512 BF16 and on GPUs, at a small "
                        "quality cost; codes may differ from the exact float32 ones (convolutional models only)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rvq-studio", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    enc = sub.add_parser("encode", help="compress audio to a .rvq file",
                         description="Compress an audio file (any rate, any channel count) to a .rvq "
                                     "file: codes bit-packed or range-coded, plus a small header.")
    enc.add_argument("input", help="audio file (wav, flac, ogg, mp3, ...)")
    enc.add_argument("-o", "--output", required=True, help="output .rvq file")
    _model_arg(enc)
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument("--codebooks", "-n", type=int, help="number of codebooks to keep (default: all)")
    rate.add_argument("--kbps", type=float, help="target bitrate: the most codebooks that fit")
    enc.add_argument("--no-normalize", action="store_true",
                     help="do not normalise loudness to -16 LUFS before encoding")
    enc.add_argument("--raw", action="store_true", help="store codes bit-packed, without entropy coding")

    dec = sub.add_parser("decode", help="decompress a .rvq file",
                         description="Decode a .rvq file to audio at its original rate, length and level. "
                                     "An .ecdc file of Meta's encodec package decodes too, with the release's "
                                     "checkpoint as --model, at the model's rate (files coded with its language "
                                     "model need encodec_lm_*.th beside the checkpoint or in torch hub's folder).")
    dec.add_argument("input", help=".rvq file (or .ecdc)")
    dec.add_argument("-o", "--output", required=True, help="output audio file (.wav or .flac)")
    _model_arg(dec)
    dec.add_argument("--codebooks", "-n", type=int, help="decode with the first n stored codebooks")

    ev = sub.add_parser("eval", help="quality at every codebook count",
                        description="Encode a file once and report, for every codebook count n: kbps, "
                                    "mel distance, STFT distance and SI-SDR (the DAC paper's definitions; "
                                    "--metrics chooses others, such as ViSQOL, STOI and DNSMOS), "
                                    "then the usage entropy of each codebook and the bitrate efficiency "
                                    "(sum of entropies / total bits).")
    ev.add_argument("input", help="audio file")
    _model_arg(ev)
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.add_argument("--metrics", default="mel,stft,si_sdr", metavar="LIST",
                    help="comma-separated metrics (default: mel,stft,si_sdr): mel, stft, si_sdr (also after "
                         "undoing the codec's delay), visqol (ViSQOL v3 audio mode, 48 kHz), visqol_speech "
                         "(speech mode, 16 kHz), stoi, estoi, dnsmos (P.835 SIG/BAK/OVRL of the output alone), "
                         "pesq (only if you installed the pesq package); a metric that cannot run here is "
                         "reported absent with the reason")
    ev.add_argument("--worst", type=int, default=0, metavar="K",
                    help="also list, for every codebook count, the K 0.5 s windows with the largest mel distance")

    _compare_parser(sub)

    info = sub.add_parser("info", help="describe a model",
                          description="Architecture, sample rate, hop, codebooks, bitrates and parameters.")
    info.add_argument("model", nargs="?", default="default", help='model file or "default"')
    info.add_argument("--json", action="store_true", help="print JSON")

    _train_parser(sub)
    add_models_parser(sub)
    _export_parser(sub)
    return parser


COMPARE_DESCRIPTION = """\
Render every contestant on every file (folders are walked) and score it against the file
with the metrics of 'eval' (same names): per-file rows and per-contestant means. Two to
eight contestants: --codec MODEL (all codebooks), MODEL:n (n codebooks) or MODEL@KBPS (the
count whose nominal bitrate is closest), repeatable and mixable; Opus and MP3 at exact
bitrates; the original; BS.1534's low-pass anchors. Bitrates are of the whole stream (all
channels) and measured: a codec's is its .rvq file (range-coded) over the duration. Every
rendering is aligned to the file (its delay undone) at the file's rate, length and channels."""


def bitrates(text: str) -> list[float]:
    """``--opus`` and ``--mp3``'s value: one bitrate or a comma-separated list. One value per
    option, so bitrates never swallow the input files that follow them."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate in kbps (several: 12,24)")
    return values


def build_compare_parser() -> argparse.ArgumentParser:
    """``rvq-studio compare``'s parser on its own: it parses files and options in any order
    (:meth:`~argparse.ArgumentParser.parse_intermixed_args`), which a parser of sub-commands cannot."""
    return _compare_parser(_Parser(prog="rvq-studio").add_subparsers())


def _compare_parser(sub) -> argparse.ArgumentParser:
    cmp = sub.add_parser("compare", help="codecs side by side on files", description=COMPARE_DESCRIPTION,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders")
    cmp.add_argument("--codec", action="append", metavar="MODEL[:n|@kbps]",
                     help='a neural codec: "default", an official checkpoint or an exported model (repeatable)')
    cmp.add_argument("--opus", type=bitrates, action="extend", metavar="KBPS[,KBPS...]",
                     help="Opus at these bitrates (comma-separated, or the option repeated)")
    cmp.add_argument("--mp3", type=bitrates, action="extend", metavar="KBPS[,KBPS...]",
                     help="MP3 (LAME) at these bitrates (comma-separated, or the option repeated)")
    cmp.add_argument("--original", action="store_true", help="the original itself as a contestant")
    cmp.add_argument("--anchors", action="store_true", help="the 3.5 kHz and 7 kHz low-pass anchors")
    cmp.add_argument("--metrics", default="mel,stft,si_sdr", metavar="LIST",
                     help="comma-separated metrics, as for 'eval' (default: mel,stft,si_sdr)")
    cmp.add_argument("--renders", metavar="DIR", help="write every rendering as DIR/<file>/<contestant>.wav")
    cmp.add_argument("--json", metavar="OUT", help="write the results as JSON ('-': stdout, instead of the table)")
    cmp.add_argument("--csv", metavar="OUT", help="write the per-file rows as CSV")
    cmp.add_argument("--plot", metavar="OUT.png", help="draw bitrate against the first metric (means) as PNG")
    cmp.add_argument("--device", default="cpu", help="torch device for the neural codecs (cpu, cuda, ...)")
    return cmp


EXPORT_DESCRIPTION = """\
Write a model for runtimes without RVQ Studio or PyTorch. With --onnx DIR: DIR/encoder.onnx
(float32 audio [batch, 1, samples] at the model's rate -> int64 codes [batch, N, frames]),
DIR/decoder.onnx (codes [batch, n, frames], any n from 1 to N -> audio) and DIR/codec.json
(sample rate, hop, codebooks, context, the model's name and weights digest). Batch, length
and n are dynamic. DIR is created if missing; an earlier export in it is replaced.
Needs the optional packages: pip install 'rvq-studio[onnx]'."""


def _export_parser(sub) -> None:
    ex = sub.add_parser("export", help="write a model as ONNX graphs", description=EXPORT_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("model", help='model file or "default"')
    ex.add_argument("--onnx", required=True, metavar="DIR", help="folder for encoder.onnx, decoder.onnx, codec.json")


TRAIN_DESCRIPTION = """\
Train a codec from scratch, or fine-tune one (--from), on a folder of audio.

DATA is searched recursively for wav/flac/ogg/opus/mp3 files at any sample rate and channel
count; random excerpts are resampled to the model's rate and loudness-normalised, silent ones
skipped. Top-level sub-folders (e.g. speech/, music/, general/) are sampled equally often.
Without --val, about 5% of the files (chosen by path hash) are held out for validation.

RUN_DIR receives config.json, checkpoints/ (the last few, plus best.safetensors by validation mel
distance) and model.safetensors (the best model so far; open it in the studio or pass it to
--model). Ctrl-C or SIGTERM saves a checkpoint and exits; continue with --resume.
Runs under `torchrun --nproc_per_node K` with one data shard per process."""


def _train_parser(sub) -> None:
    tr = sub.add_parser("train", help="train or fine-tune a codec", description=TRAIN_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("--data", metavar="DIR", help="training audio folder (required for a new run)")
    tr.add_argument("--val", metavar="DIR", help="validation audio folder (default: hold out ~5%% of --data)")
    tr.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created if missing)")
    tr.add_argument("--from", dest="from_model", metavar="MODEL",
                    help='fine-tune this model ("default", an official release such as a DAC .pth, an EnCodec '
                         ".th, a SNAC folder or Mimi's safetensors, or an exported model): its "
                         "architecture is kept and the discriminators start fresh")
    tr.add_argument("--preset", metavar="NAME",
                    help="training recipe: default (the bundled model's architecture), snac-small and "
                         "mimi-small, sized for a CPU; the releases' architectures (dac-44k, snac-24k, mimi-24k, encodec-24k, ...: "
                         "GPU jobs); tiny ones (tests). With --from only its training settings are used")
    tr.add_argument("--steps", type=int, metavar="N", help="train until step N (may be raised on --resume)")
    tr.add_argument("--batch", type=int, metavar="B", help="excerpts per step and process")
    tr.add_argument("--lr", type=float, help="initial learning rate (decays exponentially)")
    tr.add_argument("--lr-gamma", type=float, metavar="G",
                    help="learning-rate decay per step, 0 < G <= 1 (default: the preset's; may be changed on "
                         "--resume: the new decay starts from the rate reached so far)")
    tr.add_argument("--excerpt-seconds", type=float, metavar="S", help="excerpt length (default 0.38)")
    tr.add_argument("--gan-start", type=int, metavar="STEP",
                    help="adversarial losses from this step on (reconstruction losses only before)")
    tr.add_argument("--freeze", metavar="PARTS",
                    help="comma-separated parts to keep fixed: encoder, quantizer, decoder. "
                         "--freeze encoder,quantizer fine-tunes only the decoder, so the codes stay "
                         "compatible with the base model (files encoded with it decode with the new one)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in RUN_DIR from its latest checkpoint (starts it if empty)")
    tr.add_argument("--val-every", type=int, metavar="V", help="validate every V steps")
    tr.add_argument("--ckpt-every", type=int, metavar="C", help="checkpoint every C steps")
    tr.add_argument("--keep", type=int, metavar="K", help="periodic checkpoints to keep")
    tr.add_argument("--log-every", type=int, metavar="L", help="progress report every L steps")
    tr.add_argument("--revive-every", type=int, metavar="R",
                    help="every R steps, move rarely used codes of learned codebooks onto batch latents "
                         "(0: off; default: the preset's; may be changed on --resume)")
    tr.add_argument("--seed", type=int, help="random seed of a new run (default 0)")
    tr.add_argument("--workers", type=int, default=1, metavar="W",
                    help="data loading processes (default 1; 0 loads in the training process)")
    tr.add_argument("--threads", type=int, metavar="T",
                    help="torch threads for the training step (default: all cores but one, at least 1; "
                         "more threads than free cores make every step wait for a descheduled thread, "
                         "several times slower than one thread)")
    tr.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    tr.add_argument("--compile", action="store_true",
                    help="compile the generator with torch.compile: faster steps after minutes of compiling "
                         "(worth it for long runs; needs a C++ compiler on CPU)")
    tr.add_argument("--json-progress", action="store_true",
                    help="print one JSON object per line on stdout (see docs/training.md)")


def build_gui_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rvq-studio", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", help="audio file to open")
    p.add_argument("--model", "-m", default="default", metavar="M", help='model file or "default"')
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the window once everything is ready, save it as PNG and exit")
    p.add_argument("--live-input", metavar="FILE",
                   help="the Live tab's input device is FILE, looped at real-time pace (demos without a microphone)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "compare":  # files and options in any order
            args = build_compare_parser().parse_intermixed_args(argv[1:], argparse.Namespace(command="compare"))
            return _run_command(args)
        if argv and argv[0] in COMMANDS:
            args = build_parser().parse_args(argv)
            return _run_command(args)
        if argv and argv[0] in ("-h", "--help"):
            build_parser().print_help()
            return 0
        args = build_gui_parser().parse_args(argv)
        _check_gui_arguments(args)
        if args.live_input is not None:
            from app.live.input_device import SIMULATED_INPUT_VARIABLE

            os.environ[SIMULATED_INPUT_VARIABLE] = str(Path(args.live_input).expanduser().resolve())
        from app.main import run_gui

        return run_gui(args.file, args.model, args.screenshot)
    except SystemExit as exit_request:  # argparse: -h (0) or a usage error (2), already printed
        return exit_request.code if isinstance(exit_request.code, int) else 2
    except KeyboardInterrupt:
        print("rvq-studio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"rvq-studio: error: {printable(_one_line(exc))}", file=sys.stderr)
        return 2


def _check_gui_arguments(args: argparse.Namespace) -> None:
    """What the window would only find out after opening: a mistyped command, a missing file."""
    from model.audio_io import audio_info

    if args.file is not None:
        path = Path(args.file)
        if not path.exists() and not path.suffix and len(path.parts) == 1:
            raise ValueError(f"unknown command or file '{args.file}' (commands: {', '.join(COMMANDS)}; "
                             "see 'rvq-studio -h')")
        from model.audio_io import audio_info
        from model.ecdc_format import is_ecdc

        if not (path.is_file() and is_ecdc(path)):  # an .ecdc file opens in the studio too
            audio_info(path)
    if args.model != "default" and not Path(args.model).expanduser().exists():  # a file, or a model folder
        raise ValueError(f"{args.model}: no such model file")
    if args.live_input is not None:
        audio_info(Path(args.live_input).expanduser())
    if args.screenshot is not None and not Path(args.screenshot).expanduser().resolve().parent.is_dir():
        raise ValueError(f"{args.screenshot}: the output folder does not exist")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return text.splitlines()[0] if text else type(exc).__name__


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "models":
        from app.cli.model_commands import run_models

        return run_models(args)
    if args.command == "compare":
        from app.cli.compare_command import run_compare

        return run_compare(args)
    from app.cli import commands

    return getattr(commands, f"run_{args.command}")(args)


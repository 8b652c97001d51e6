"""``rvq-studio compare``: every contestant over every file, per-file rows and per-contestant means.

Contestants come from ``--codec MODEL[:n | @kbps]`` (repeatable), ``--opus`` and ``--mp3``
bitrates (one value or a comma-separated list per option, repeatable: an option never takes the
input files that follow it, and files and options come in any order), ``--original`` and
``--anchors`` (BS.1534's 3.5 and 7 kHz low-pass anchors); two to eight in all. Folders among the
inputs are walked for audio files. Each file is read whole at its own rate; every contestant is
rendered at that rate, length and channel count, aligned to the file
(:mod:`app.compare.rendering`), scored with the metrics of ``rvq-studio eval`` under the same
names, and, with ``--renders DIR``, written as ``DIR/<file>/<contestant>.wav`` (atomically).
Bitrates are measured (the encoded bytes over the duration, all channels); the nominal ones are
listed with the contestants.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.cli.devices import checked_device
from app.cli.output_paths import output_path
from app.cli.progress_bar import TerminalProgress
from app.cli.terminal_text import printable
from app.compare import contestants
from app.compare.contestants import ContestantSpec
from app.compare.rendering import ClipRenderer, CodecShelf, Contestant
from app.compare.scoring import score
from model.atomic_file import atomic_path
from model.audio_io import read_audio, write_audio
from model.listening_metrics import resolve
from model.training.corpus import audio_files


def contestant_specs(args: argparse.Namespace) -> list[ContestantSpec]:
    """The contestants the options ask for, in the order: codecs, Opus, MP3, original, anchors."""
    specs = [contestants.parse_codec(text) for text in args.codec or []]
    specs += [contestants.opus(kbps) for kbps in args.opus or []]
    specs += [contestants.mp3(kbps) for kbps in args.mp3 or []]
    specs += [contestants.original()] if args.original else []
    specs += [contestants.anchor(hz) for hz in contestants.ANCHOR_CUTOFFS_HZ] if args.anchors else []
    return contestants.check_count(specs)


def input_files(inputs: Sequence[str]) -> list[Path]:
    """The files given, and the audio files inside the folders given (recursively), in order."""
    files: list[Path] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            found = audio_files(path)
            if not found:
                raise ValueError(f"{text}: no audio files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        elif _is_number(text):  # "--opus 12 24 a.wav": the option takes one value, 24 came back as an input
            raise ValueError(f"{text}: no such file or folder (--opus and --mp3 take one value each: "
                             f"several bitrates are comma-separated, --opus 12,{text}, or the option repeated)")
        else:
            raise ValueError(f"{text}: no such file or folder")
    return files


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_compare(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)  # first: a bitrate taken for an input says so, not "one contestant"
    specs = contestant_specs(args)
    metrics = [metric.name for metric in resolve(args.metrics)]
    for target, suffix in ((args.json, ".json"), (args.csv, ".csv"), (args.plot, ".png")):
        if target not in (None, "-"):
            output_path(target, str(files[0]), suffix)  # refused before any work: a missing folder, the input
    renders = _renders_folder(args.renders) if args.renders else None
    shelf = CodecShelf(checked_device(args.device))
    progress = TerminalProgress("comparing")
    results, described, unavailable = [], {}, {}
    folders: dict[Path, Path] = {}
    for index, path in enumerate(files):
        audio = read_audio(path)
        renderer = ClipRenderer(audio, shelf)
        for k, spec in enumerate(specs):
            rendering = renderer.render(spec)
            scores = score(audio.samples, rendering.samples, audio.sample_rate, metrics)
            unavailable.update(scores.unavailable)
            described.setdefault(spec, rendering.contestant)
            row = {"file": str(path), "contestant": spec.name, "kbps": rendering.measured_kbps,
                   "n_codebooks": rendering.contestant.n_codebooks, **scores.values}
            if renders is not None:
                out = _render_path(renders, folders, path, spec)
                write_audio(out, rendering.samples, audio.sample_rate)
                row["render"] = str(out)
            results.append(row)
            progress(index * len(specs) + k + 1, len(files) * len(specs))
    report = {"contestants": [described[spec].describe() for spec in specs], "results": results,
              "means": _means(results, specs)}
    if unavailable:
        report["unavailable"] = unavailable
    _write_outputs(args, report, [described[spec] for spec in specs])
    return 0


def _write_outputs(args: argparse.Namespace, report: dict, chosen: list[Contestant]) -> None:
    if args.json:
        _write_text(args.json, json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
    if args.csv:
        _write_csv(args.csv, report["results"])
    if args.plot:
        from app.cli.rate_quality_plot import save_rate_quality_plot

        save_rate_quality_plot(args.plot, report["means"], chosen)
    if args.json != "-":
        _print_table(report)


def _json_safe(value):
    """``value`` with infinities (SI-SDR of the original itself) as null: JSON has no infinity."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _means(results: list[dict], specs: list[ContestantSpec]) -> list[dict]:
    """Per contestant: the mean over files of the measured bitrate and of every numeric metric."""
    means = []
    for spec in specs:
        rows = [row for row in results if row["contestant"] == spec.name]
        mean: dict = {"contestant": spec.name, "files": len(rows)}
        for key in rows[0]:
            values = [row[key] for row in rows]
            if key not in ("file", "contestant", "render", "n_codebooks") and all(
                    isinstance(v, (int, float)) for v in values):
                mean[key] = float(np.mean(values))
        means.append(mean)
    return means


def _print_table(report: dict) -> None:
    keys = [key for key in report["means"][0] if key not in ("contestant", "files")]
    width = max(len(row["contestant"]) for row in report["means"])
    header = f"{'contestant':<{width}} " + " ".join(f"{key:>14}" for key in keys)
    print("mean over " + ", ".join(sorted({str(r['files']) for r in report['means']})) + " file(s)")
    print(header)
    for row in report["means"]:
        cells = " ".join(f"{row[key]:>14.3f}" if key in row else f"{'-':>14}" for key in keys)
        print(f"{printable(row['contestant']):<{width}} {cells}")
    for name, reason in report.get("unavailable", {}).items():
        print(f"{name}: not measured: {printable(reason)}")


def _write_text(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    with atomic_path(target) as temp, open(temp, "w", encoding="utf-8") as stream:
        stream.write(text)


def _write_csv(target: str, results: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in results for key in row))
    with atomic_path(target) as temp, open(temp, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows(results)


def _renders_folder(argument: str) -> Path:
    folder = Path(argument).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{argument}: exists and is not a folder")
    if not folder.resolve().parent.is_dir():
        raise ValueError(f"{argument}: the folder it would be made in does not exist")
    folder.mkdir(exist_ok=True)
    return folder


def _render_path(renders: Path, folders: dict[Path, Path], source: Path, spec: ContestantSpec) -> Path:
    """``renders/<file>/<contestant>.wav``; files of the same name get ``<file>-2`` and so on."""
    if source not in folders:
        taken = set(folders.values())
        folder, k = renders / source.stem, 1
        while folder in taken:
            k += 1
            folder = renders / f"{source.stem}-{k}"
        folders[source] = folder
        folder.mkdir(exist_ok=True)
    return folders[source] / (re.sub(r"[^A-Za-z0-9._-]+", "_", spec.name).strip("_") + ".wav")

"""Decode speed of a model in onnxruntime (its exported decoder.onnx) and in PyTorch, side by side.

Exports the model to a temporary folder, encodes ``--seconds`` of music-like audio once, then
decodes all codebooks with: PyTorch through the public ``Codec`` API (chunked, exact path; with
two threads, two single-threaded chunk workers, which is what ``Codec`` does by default), and
onnxruntime running the one whole-signal graph with 1 and 2 intra-op threads. Prints the best
of ``--repeats`` runs as multiples of real time, and the largest difference between the two
outputs.

    .venv/bin/python benchmarks/bench_onnx_speed.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from model import load_codec
from model.onnx_export import export_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
from synthetic_audio import music_clip  # noqa: E402  (test material, not part of the package)

from bench_default_speed import best_seconds, speed_arguments  # noqa: E402  (beside this script)


def main() -> None:
    args = speed_arguments(__doc__, 20.0)

    codec = load_codec(args.model)
    wave = torch.from_numpy(music_clip(args.seconds, codec.sample_rate))[None]
    codes = codec.encode(wave)
    with tempfile.TemporaryDirectory() as folder:
        export_onnx(codec, folder)
        sessions = {}
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            sessions[threads] = ort.InferenceSession(str(Path(folder) / "decoder.onnx"), options,
                                                     providers=["CPUExecutionProvider"])
    feed = {"codes": codes.numpy()}
    print(f"{codec.name}: decoding {args.seconds:g} s ({codec.n_codebooks} codebooks), best of {args.repeats}, "
          f"onnxruntime {ort.__version__}, torch {torch.__version__}")
    print(f"{'':<12}{'PyTorch':>10}{'onnxruntime':>14}   (x real time)")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        reference = codec.decode(codes, workers=threads)
        exported = sessions[threads].run(None, feed)[0]
        torch_time = best_seconds(lambda: codec.decode(codes, workers=threads), args.repeats)
        onnx_time = best_seconds(lambda: sessions[threads].run(None, feed), args.repeats)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        print(f"{label:<12}{args.seconds / torch_time:>9.1f}x{args.seconds / onnx_time:>13.1f}x"
              f"   (max |difference| {np.abs(reference.numpy() - exported).max():.1e})")


if __name__ == "__main__":
    main()

"""One Compare-tab contestant rendered on a clip in a fresh process, its peak memory sampled: run
as a script by the memory test and benchmark (a process of its own, so the peak is the
rendering's, not what an earlier one left in the heap). Prints one line of JSON: the contestant's
name, the seconds taken and the peaks (MiB over the process once the model is loaded): ``VmHWM``,
the kernel's own resident high-water mark, which no transient escapes, and ``VmRSS``, ``RssAnon``
and ``RssFile`` sampled every 5 ms (the sampling shows how the peak splits).

``whole``: the clip read whole and the contestant computed on whole arrays (:mod:`whole_renderings`,
as the tab rendered before it streamed); ``streamed``: the clip written to the folder as it is
read, the contestant made from it block by block and written as it comes.

    python tests/support/rendering_peak.py {whole,streamed} CLIP SPEC_INDEX [--model default|tiny]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from resident_size import PeakSampler, reset_peak, status_bytes  # noqa: E402

MIB = 1 << 20
DESIGNS = ("whole", "streamed")


def specs(model: str) -> list:
    """The contestants measured: the original, an anchor, Opus, MP3 and a codec (``tiny``: the tiny
    DAC of the tests, at its 3 codebooks; else the model at 4)."""
    from app.compare import contestants

    return [contestants.original(), contestants.anchor(3500.0), contestants.opus(24), contestants.mp3(128),
            contestants.codec(model, 3 if model == "tiny" else 4)]


def shelf_for(model: str):
    from app.compare.rendering import CodecShelf

    if model != "tiny":
        return CodecShelf()
    from tiny_codecs import tiny_network, tiny_recipe

    from model.codec import Codec

    codec = Codec(tiny_network("dac"), name="tiny dac", family="dac", config=tiny_recipe("dac").architecture)
    return CodecShelf(loader=lambda name, device: codec)


def measure(design: str, clip: Path, index: int, model: str) -> dict:
    from app.compare.rendering import ClipRenderer
    from app.compare.rendering_folder import RenderingFolder
    from app.compare.studio_comparison import kept_clip
    from app.studio.clip import read_checked
    from model.audio_io import Audio
    from whole_renderings import whole_rendering

    spec = specs(model)[index]
    shelf = shelf_for(model)
    shelf.get(model)  # loaded before measuring: the model is the same in both designs
    folder = RenderingFolder()
    start = {field: status_bytes(field) for field in PeakSampler.FIELDS}
    reset_peak()
    sampler = PeakSampler()
    sampler.start()
    began = time.perf_counter()
    try:
        if design == "whole":
            audio = read_checked(clip)
            audio = Audio(folder.keep(audio.samples), audio.sample_rate)
            samples, _, _ = whole_rendering(audio, spec, shelf)
            folder.keep(samples)
        else:
            audio = kept_clip(clip, folder)
            ClipRenderer(audio, shelf, lambda: folder.blocks(audio.samples)).render_kept(spec, folder)
    finally:
        peaks = sampler.stop()
        folder.close()
    return {"name": spec.name, "seconds": time.perf_counter() - began,
            "VmHWM": (status_bytes("VmHWM") - start["VmRSS"]) / MIB,
            **{field: (peaks[field] - start[field]) / MIB for field in PeakSampler.FIELDS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("design", choices=DESIGNS)
    parser.add_argument("clip", type=Path)
    parser.add_argument("spec", type=int)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    print(json.dumps(measure(args.design, args.clip, args.spec, args.model)))


if __name__ == "__main__":
    main()

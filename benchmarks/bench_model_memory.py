"""Where a loaded codec's memory goes: its tensors by kind, and the resident size around the first calls.

For a model file (anything ``load_codec`` takes), prints the bytes of the distinct storages behind
the network's parameters and buffers grouped by their name (``weight_v``, ``_folded_fast``,
``_phase0_fast``, ``embed``...; views of one storage count once), then the process's resident size
(``VmRSS``) and its high-water mark (``VmHWM``) after importing, after loading, after handing
freed memory back as the studio does at quiet moments (glibc's ``malloc_trim``: what loading freed
and malloc kept), after the first encode and after the first decode of ``--seconds`` of noise. tracemalloc does not see PyTorch's
allocations; storage sizes and ``/proc/self/status`` do. Last, the working memory of one chunk worker:
the high-water mark above the resident size of one more decode, as one chunk of ``--seconds``
(``--stage-tiles-only``: without the decoder's tail tiles of ``model/tiled.py``, for comparison).
``--preset NAME`` builds a registry preset's architecture with seeded random weights instead of
reading a file (``--preset dac-44k``: the DAC 44.1 kHz release's, no download).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_model_memory.py MODEL [--seconds 5]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_model_memory.py --preset dac-44k --seconds 10

Figures: docs/benchmarks.md ("Memory").
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, wherever this is run from

from app.runtime.freed_memory import return_freed_memory  # noqa: E402
from tests.support.resident_size import reset_peak, status_bytes  # noqa: E402

MB = 2**20


def _resident(label: str) -> None:
    print(f"{label:<16} resident {status_bytes('VmRSS') / MB:7.0f} MiB, peak so far {status_bytes('VmHWM') / MB:7.0f} MiB")


def tensor_kinds(network: torch.nn.Module) -> Counter:
    """Bytes of distinct storages by the last part of the tensor's name (digits folded: ``_phaseN_fast``)."""
    kinds: Counter = Counter()
    seen = set()
    for name, tensor in (*network.named_parameters(), *network.named_buffers()):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            kinds[re.sub(r"\d+", "N", name.rsplit(".", 1)[-1])] += storage.nbytes()
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?")
    parser.add_argument("--preset", help="a registry preset's architecture, seeded random weights")
    parser.add_argument("--stage-tiles-only", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from model import load_codec

    if args.stage_tiles_only:
        from model import tiled
        tiled._tail_of = lambda stack, in_channels: None
    _resident("imported")
    with tempfile.TemporaryDirectory() as folder:
        codec = load_codec(args.model if args.preset is None else _random_preset_file(args.preset, Path(folder)))
    _resident("loaded")
    return_freed_memory()
    _resident("loaded, trimmed")
    kinds = tensor_kinds(codec.network)
    print(f"tensors held: {sum(kinds.values()) / MB:.1f} MiB for {codec.n_parameters() * 4 / MB:.1f} MiB "
          "of float32 parameters")
    for kind, size in kinds.most_common():
        if size >= MB / 10:
            print(f"  {kind:<24}{size / MB:9.1f} MiB")
    wave = 0.1 * torch.randn(1, codec.channels, int(args.seconds * codec.sample_rate),
                             generator=torch.Generator().manual_seed(0))
    encoded = codec.encode_audio(wave)
    _resident("first encode")
    codec.decode(encoded)
    _resident("first decode")
    return_freed_memory()
    before = status_bytes("VmRSS")
    reset_peak()
    codec.decode(encoded, workers=1, chunk_seconds=args.seconds + 1)
    print(f"decode of one {args.seconds:g} s chunk: peak {(status_bytes('VmHWM') - before) / MB:.0f} MiB above "
          f"the resident size before it ({'stage tiles only' if args.stage_tiles_only else 'with tail tiles'})")


def _random_preset_file(name: str, folder: Path) -> Path:
    """A registry preset's network, seeded random weights, written as our model file."""
    from model.export import save_model_file
    from model.registry import family, preset

    torch.manual_seed(0)
    recipe = preset(name)
    path = folder / f"{name}.safetensors"
    save_model_file(family(recipe.family).build(recipe.architecture), path, family=recipe.family,
                    config=recipe.architecture, name=name)
    return path


if __name__ == "__main__":
    main()

"""Where a loaded codec's memory goes: its tensors by kind, and the resident size around the first calls.

For a model file (anything ``load_codec`` takes), prints the bytes of the distinct storages behind
the network's parameters and buffers grouped by their name (``weight_v``, ``_folded_fast``,
``_phase0_fast``, ``embed``...; views of one storage count once), then the process's resident size
(``VmRSS``) and its high-water mark (``VmHWM``) after importing, after loading, after handing
freed memory back as the studio does at quiet moments (glibc's ``malloc_trim``: what loading freed
and malloc kept), after the first encode and after the first decode of ``--seconds`` of noise. tracemalloc does not see PyTorch's
allocations; storage sizes and ``/proc/self/status`` do.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_model_memory.py MODEL [--seconds 5]

Figures: docs/benchmarks.md ("Memory").
"""
from __future__ import annotations

import argparse
import re
from collections import Counter

import torch

from app.runtime.freed_memory import return_freed_memory
from tests.support.resident_size import status_bytes

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
    parser.add_argument("model")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from model import load_codec

    _resident("imported")
    codec = load_codec(args.model)
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


if __name__ == "__main__":
    main()

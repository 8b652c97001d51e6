"""An optional fused Snake kernel for CPU inference, compiled on the machine that uses it.

Snake is element-wise but, written with PyTorch operators, costs four passes over memory;
at the 44.1 kHz end of a codec that is a third to a half of all inference time. The C++
kernel in ``csrc/snake.cpp`` does it in one vectorised pass with an inlined sine (see
there why), 10-30x faster per call than the eager formulation.

It is strictly optional. :func:`build` compiles it once (about a minute; the setup script
does it) into a per-user cache keyed by source, torch version and CPU; :func:`load` only
imports an existing build, never compiles, so no call in the program's normal paths can
stall on a compiler. Without a build (no compiler, or ``RVQ_NO_FUSED_SNAKE=1``) Snake runs
the eager formulation, whose results the kernel matches to float rounding (tested).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import sys
import threading
from pathlib import Path
from types import ModuleType

import torch

from model.graph_capture import capturing_graph

SOURCE = Path(__file__).parent / "csrc" / "snake.cpp"
_module: ModuleType | None = None
_tried_load = False
# Native code for this CPU, at its full vector width (GCC otherwise prefers 256-bit vectors
# on AVX-512 machines).
CFLAGS = ["-O3", "-ffast-math", "-fopenmp-simd", "-march=native", "-mprefer-vector-width=512"]
_load_lock = threading.Lock()


def _build_key() -> str:
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    h.update(torch.__version__.encode())
    h.update(sys.version.encode())
    h.update(platform.machine().encode())
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
        h.update(flags.encode())
    except (OSError, StopIteration):
        h.update(platform.processor().encode())
    return h.hexdigest()[:16]


def _build_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rvq-studio" / "snake"
    return base / _build_key()


def _module_name() -> str:
    return f"rvq_snake_{_build_key()}"


def _disabled() -> bool:
    return os.environ.get("RVQ_NO_FUSED_SNAKE", "") not in ("", "0")


def load() -> ModuleType | None:
    """Import an existing build (fast); None when there is none or it is disabled.

    Thread-safe: parallel chunk workers may ask at the same time, and none may see "no
    kernel" while another is still importing it.
    """
    if _disabled():
        return None
    if _module is not None:
        return _module
    with _load_lock:
        return _load_once()


def _load_once() -> ModuleType | None:
    global _module, _tried_load
    if _module is not None or _tried_load:
        return _module
    _tried_load = True
    candidates = list(_build_dir().glob(f"{_module_name()}*.so"))
    if not candidates:
        return None
    spec = importlib.util.spec_from_file_location(_module_name(), candidates[0])
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        return None
    _module = module
    return _module


def build(verbose: bool = False) -> ModuleType | None:
    """Compile (or load) the kernel; None, with the reason printed when verbose, on failure."""
    global _module, _tried_load
    if _disabled():
        return None
    if load() is not None:
        return _module
    from torch.utils.cpp_extension import load as load_extension

    folder = _build_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _module = load_extension(
            name=_module_name(), sources=[str(SOURCE)], build_directory=str(folder),
            extra_cflags=CFLAGS, verbose=verbose,
        )
    except (RuntimeError, OSError, ImportError) as exc:  # no compiler, no headers, ...
        if verbose:
            print(f"fused Snake unavailable: {str(exc).splitlines()[0] if str(exc) else exc}", file=sys.stderr)
        return None
    _tried_load = True
    return _module


def fused_snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor | None:
    """The fused result, or None when the kernel cannot serve this call (also while a graph
    is exported: an exported graph holds the plain formulation)."""
    if _disabled() or capturing_graph():
        return None
    module = _module if _module is not None else load()
    if module is None or x.requires_grad or x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    return module.snake(x, alpha.detach())

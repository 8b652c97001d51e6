"""Optional native CPU kernels for inference, compiled on the machine that uses them.

Two hot spots of CPU inference are not served well by PyTorch's operators: Snake, an
element-wise activation that costs four passes over memory as operators
(:mod:`model.fused_snake`), and the transforms around Winograd convolution, which as operators
cost as much as the multiplications they save (:mod:`model.winograd`). Their C++ sources in
``csrc/`` build into one extension module.

It is strictly optional. :func:`build` compiles it once (about a minute; the setup script
does it) into a per-user cache keyed by sources, flags, torch version and CPU; :func:`load`
only imports an existing build, never compiles, so no call in the program's normal paths can
stall on a compiler. Without a build every layer runs its PyTorch formulation, whose results
the kernels match (tested).
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

SOURCES = [Path(__file__).parent / "csrc" / name for name in ("snake.cpp", "winograd.cpp", "bindings.cpp")]
# Native code for this CPU, at its full vector width (GCC otherwise prefers 256-bit vectors
# on AVX-512 machines).
CFLAGS = ["-O3", "-ffast-math", "-fopenmp-simd", "-march=native", "-mprefer-vector-width=512"]
_module: ModuleType | None = None
_tried_load = False
_load_lock = threading.Lock()


def _build_key() -> str:
    h = hashlib.sha256()
    for source in SOURCES:
        h.update(source.read_bytes())
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
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rvq-studio" / "native"
    return base / _build_key()


def _module_name() -> str:
    return f"rvq_native_{_build_key()}"


def load() -> ModuleType | None:
    """Import an existing build (fast); None when there is none.

    Thread-safe: parallel chunk workers may ask at the same time, and none may see "no
    kernels" while another is still importing them.
    """
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
    """Compile (or load) the kernels; None, with the reason printed when verbose, on failure."""
    global _module, _tried_load
    if load() is not None:
        return _module
    from torch.utils.cpp_extension import load as load_extension

    folder = _build_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _module = load_extension(
            name=_module_name(), sources=[str(s) for s in SOURCES], build_directory=str(folder),
            extra_cflags=CFLAGS, verbose=verbose,
        )
    except (RuntimeError, OSError, ImportError) as exc:  # no compiler, no headers, ...
        if verbose:
            print(f"native kernels unavailable: {str(exc).splitlines()[0] if str(exc) else exc}", file=sys.stderr)
        return None
    _tried_load = True
    return _module

"""Opt-in compiled decoding: a convolutional decoder stack compiled by inductor for one excerpt length.

Inductor (``torch.compile`` with the weights frozen into the graph) fuses each Snake into one
generated loop and runs the convolutions on weights pre-packed for oneDNN, which decodes the
DAC 44.1 kHz release about 1.3-1.4x faster than the eager path (docs/benchmarks.md). Two costs
kept it out of reach:

* Compiling takes about a minute, and a fixed-shape graph serves one input length only (a
  graph compiled for any length, ``dynamic=True``, loses the speed: measured no faster than
  eager). So the chunked engine is given one excerpt length for every chunk
  (:func:`model.chunked.fixed_length_plan`): the first chunk takes its right context, the last
  its left context and every other both, all exactly :attr:`CompiledDecoder.excerpt_frames`
  long; the ends of each excerpt are true signal edges or margins at least as wide as the
  decoder's receptive field, so the kept samples equal the whole-signal decoding. No latent
  is ever zero-padded (that would not be the zero padding the inner layers see). Codes shorter
  than one excerpt, or of another batch size, decode on the eager path.
* Every new process would compile again. Inductor's compiled-graph cache is kept in the
  user's cache folder (``TORCHINDUCTOR_CACHE_DIR``, unless the user set it), keyed by the
  graph and the machine but not by the weight values (the frozen weights are inputs of the
  cached code), so the first compile on a machine is slow and later ones, for any model of
  the same architecture, load the cached code.

The generated element-wise code is specialised for a thread count at compile time; it is
compiled for one thread, the chunk engine's workers' (each worker runs a whole excerpt on one
core). The eager path stays the reference: :func:`compile_decoder` checks the compiled output
against it before the codec uses it.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from model.layers import from_fast_layout, to_fast_layout
from model.tiled import run_fast

EXCERPT_FRAMES = 256  # frames per compiled excerpt: 3 s at 44.1 kHz / hop 512, margins included
TOLERANCE = 1e-4  # largest difference from the eager decoding accepted when compiling


class CompileFailed(RuntimeError):
    """The compiler is unavailable here (no C++ compiler, unsupported platform) or its output
    disagrees with the eager path; the message is one line."""


def cache_dir() -> Path:
    """Where inductor keeps compiled code between processes: the user's cache folder."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "rvq-studio" / "inductor"


class CompiledDecoder:
    """The decoder of a convolutional network, compiled for excerpts of ``[1, n, excerpt_frames]`` codes."""

    def __init__(self, network: nn.Module, excerpt_frames: int, threads: int = 1) -> None:
        self.network = network
        self.excerpt_frames = excerpt_frames
        self.threads = threads
        self._stack = torch.compile(network.decoder_stack(), dynamic=False,
                                    options={"freezing": True, "cpp.threads": threads})
        self._lock = threading.Lock()
        self._warm = False

    def serves(self, codes: torch.Tensor) -> bool:
        """Whether ``codes [B, n, F]`` decode on the compiled path (else: eager)."""
        return self._warm and codes.shape[0] == 1 and codes.shape[-1] >= self.excerpt_frames

    def decode_excerpt(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio ``[1, channels, T]`` of exactly ``excerpt_frames`` frames of codes."""
        if codes.shape[0] != 1 or codes.shape[-1] != self.excerpt_frames:
            raise ValueError(f"the compiled decoder takes [1, n, {self.excerpt_frames}] codes, "
                             f"got {tuple(codes.shape)}")
        with torch.inference_mode():
            latents = self.network.quantizer.decode(codes.long())
            return from_fast_layout(self._stack(to_fast_layout(latents)))

    def warm_up(self, codes: torch.Tensor) -> float:
        """Compile (first call, one thread at a time) and return the largest difference of the
        compiled decoding of ``codes`` from the eager one."""
        with self._lock, torch.inference_mode():
            compiled = self.decode_excerpt(codes)
            eager = run_fast(self.network.decoder_stack(), self.network.quantizer.decode(codes))
            self._warm = True
        return float((compiled - eager).abs().max())


def compile_decoder(network: nn.Module, n_codebooks: int, codebook_size: int, margin_frames: int | None,
                    excerpt_frames: int = EXCERPT_FRAMES, threads: int = 1) -> CompiledDecoder:
    """Compile ``network``'s decoder stack and check it against the eager path on random codes.

    ``margin_frames``: the decoder's context on each side (None: not chunkable). Takes about a
    minute the first time on a machine, seconds once inductor's cache holds the code. Raises
    :class:`CompileFailed` (one line) when compiling is not possible, fails or disagrees.
    """
    if not (hasattr(network, "decoder_stack") and hasattr(network, "quantizer")) or margin_frames is None \
            or getattr(network, "side_info", ()) or getattr(network, "chunk_alignment", None) is not None:
        raise CompileFailed(f"compiled decoding is not available for {type(network).__name__} networks")
    if next(network.parameters()).device.type != "cpu":
        raise CompileFailed("compiled decoding is for the CPU; other devices decode eagerly")
    if 2 * margin_frames >= excerpt_frames:
        raise CompileFailed(f"the decoder's context ({margin_frames} frames a side) is too wide for "
                            f"{excerpt_frames}-frame excerpts")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
    codes = torch.randint(0, codebook_size, (1, n_codebooks, excerpt_frames),
                          generator=torch.Generator().manual_seed(0))
    decoder = CompiledDecoder(network, excerpt_frames, threads)
    try:
        with _threads(threads):
            difference = decoder.warm_up(codes)
    except Exception as exc:  # inductor raises many kinds (no compiler, unsupported op, ...)
        raise CompileFailed(f"compiling the decoder failed: {_first_line(exc)}") from exc
    if not difference <= TOLERANCE:
        raise CompileFailed(f"the compiled decoder differs from the exact one by {difference:.1e}")
    return decoder


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, restoring the caller's count after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""Compiled decoding, a lever the benchmark measures and the codec does not use: a convolutional decoder stack
compiled by inductor for one excerpt length.

Inductor (``torch.compile``, the weights frozen into the graph) fuses each Snake into a
generated loop and calls oneDNN for the convolutions. What stood in its way was practical:

* A fixed-shape graph serves one input length (``dynamic=True`` serves all, no faster than the
  eager path when measured), and compiling takes about a minute. So every chunk here is one
  excerpt length (:func:`model.chunked.fixed_length_plan`): the first chunk takes its right
  context, the last its left context, the others both, all exactly ``excerpt_frames`` long; the
  ends of each excerpt are true signal edges or margins at least as wide as the decoder's
  receptive field, so the kept samples equal the whole-signal decoding. No latent is ever
  zero-padded (that would not be the zero padding the inner layers see).
* Inductor's compiled-graph cache goes to the user's cache folder (``TORCHINDUCTOR_CACHE_DIR``,
  unless already set), keyed by the graph and the machine but not by the weight values (the
  frozen weights are inputs of the cached code): later processes, for any model of the same
  architecture, skip the C++ compilation.

Made practical, it did not pay on the DAC 44.1 kHz release (docs/benchmarks.md): per excerpt
on one thread it ran 1.02-1.03x the eager path (tiled stages, fused Snake kernel, polyphase
transposed convolutions), which already spends most of its time in the same oneDNN
convolutions, and decoding 5 s with two single-threaded workers ran 0.69-1.25x the default
eager decoding, the fixed excerpts recomputing more context than the eager chunks. So
``benchmarks/bench_dac_speed.py --compile`` measures it and the codec decodes eagerly.

The generated element-wise code is specialised for a thread count at compile time
(``threads``). The eager path stays the reference: :func:`compile_decoder` checks the compiled
output against it.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from model.chunked import decode_stream
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

    def __init__(self, network: nn.Module, excerpt_frames: int, margin_frames: int, threads: int = 1) -> None:
        self.network = network
        self.excerpt_frames = excerpt_frames
        self.margin_frames = margin_frames
        self.threads = threads
        # One compile thread: inductor's pool of compile threads would outlive the compilation.
        self._stack = torch.compile(network.decoder_stack(), dynamic=False,
                                    options={"freezing": True, "cpp.threads": threads, "compile_threads": 1})

    def decode(self, codes: torch.Tensor, workers: int = 2) -> torch.Tensor:
        """Audio ``[1, channels, T]`` of ``codes [1, n, F >= excerpt_frames]``, excerpt by excerpt on
        ``workers`` chunk workers (each with one torch thread when there are several)."""
        pieces = decode_stream(self.decode_excerpt, codes, self.network.hop_length, self.margin_frames, 0,
                               workers=workers, excerpt_frames=self.excerpt_frames)
        return torch.cat(list(pieces), dim=-1)

    def decode_excerpt(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio ``[1, channels, T]`` of exactly ``excerpt_frames`` frames of codes."""
        if codes.shape[0] != 1 or codes.shape[-1] != self.excerpt_frames:
            raise ValueError(f"the compiled decoder takes [1, n, {self.excerpt_frames}] codes, "
                             f"got {tuple(codes.shape)}")
        with torch.inference_mode():
            latents = self.network.quantizer.decode(codes.long())
            return from_fast_layout(self._stack(to_fast_layout(latents)))

    def warm_up(self, codes: torch.Tensor) -> float:
        """Compile (the first call) and return the largest difference of the
        compiled decoding of ``codes`` from the eager one."""
        with torch.inference_mode():
            compiled = self.decode_excerpt(codes)
            eager = run_fast(self.network.decoder_stack(), self.network.quantizer.decode(codes))
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
    decoder = CompiledDecoder(network, excerpt_frames, margin_frames, threads)
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

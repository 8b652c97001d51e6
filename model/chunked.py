"""Exact chunked encoding and decoding for signals of any length, on one or more cores.

Each chunk is computed with enough context on both sides (at least the receptive field,
see :mod:`model.receptive_field`) that its central part equals the whole-signal
computation; only that central part is kept. Chunk boundaries are aligned to the hop, and
the first and last chunks contain the true signal edges, so the zero padding the layers see
there is the same as in one whole-signal pass. Codes therefore do not depend on the chunk
size (unlike the reference ``compress``, whose codes change with its window length) -- up to
float rounding: on CPUs whose convolution kernels round differently for different input
lengths, a decision between two equally near codewords may differ -- and memory stays
bounded by the chunk size for files of any length.

The signal need not be in memory either: ``encode_stream`` takes it as consecutive blocks
of any size and keeps only what the chunks in flight need (a chunk and its margins), and
``decode_stream`` hands the waveform back chunk by chunk. Both make exactly the chunks the
whole-signal functions make, so their results are identical, not merely close.

Because chunks are independent, ``workers > 1`` computes them concurrently, one chunk per
single-threaded worker. The small convolutions of a CPU-sized codec scale poorly across
threads inside one operator (1 -> 2 threads gives about 1.2x for the default model), while
independent chunks scale almost linearly. Each worker then takes ``chunk_frames / workers``
so the memory in flight stays what ``chunk_frames`` allows, and chunks are sized equally so
no core idles at the end. Results are collected, and ``progress`` is called, in the calling
thread, in signal order.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch

# A chunk is only split further for parallel workers while its margins stay small against
# it: below this many frames per margin frame the duplicated context costs more than the
# second core gains.
MIN_FRAMES_PER_MARGIN = 8


def chunk_plan(n_frames: int, chunk_frames: int, margin_frames: int,
               alignment: int = 1) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(start, end, ctx_start, ctx_end)`` frame ranges covering ``0..n_frames``.

    With ``alignment`` > 1 (networks with layers counted from the first frame, e.g. windowed
    attention) every range starts and ends on a multiple of it, or at the signal's end.
    """
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be positive")
    chunk_frames, margin_frames = _round_up(chunk_frames, alignment), _round_up(margin_frames, alignment)
    for start in range(0, n_frames, chunk_frames):
        end = min(n_frames, start + chunk_frames)
        yield start, end, max(0, start - margin_frames), min(n_frames, end + margin_frames)


def fixed_length_plan(n_frames: int, excerpt_frames: int, margin_frames: int) -> Iterator[tuple[int, int, int, int]]:
    """Ranges as :func:`chunk_plan`'s, every context range exactly ``excerpt_frames`` long (for a
    decoder compiled for one input shape; ``n_frames >= excerpt_frames``).

    Each kept range has ``margin_frames`` of context on both sides or touches a true signal
    edge, so the result is exact; the last excerpt ends at the signal's end and starts where
    that length puts it, recomputing part of the one before rather than padding anything.
    """
    if not 2 * margin_frames < excerpt_frames <= n_frames:
        raise ValueError(f"excerpts of {excerpt_frames} frames need more than twice the margin "
                         f"({margin_frames}) and at most the signal's {n_frames} frames")
    start = 0
    while start < n_frames:
        ctx_start = max(0, min(start - margin_frames, n_frames - excerpt_frames))
        ctx_end = ctx_start + excerpt_frames
        end = n_frames if ctx_end == n_frames else ctx_end - margin_frames
        yield start, end, ctx_start, ctx_end
        start = end


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def parallel_chunk_frames(n_frames: int, chunk_frames: int, margin_frames: int, workers: int) -> tuple[int, int]:
    """``(chunk_frames, workers)`` to use: equal chunks, a multiple of ``workers`` of them.

    Falls back to fewer workers when the signal is too short for the split to pay.
    """
    workers = max(1, min(workers, n_frames // max(1, MIN_FRAMES_PER_MARGIN * margin_frames)))
    if workers == 1:
        return chunk_frames, 1
    per_worker = max(1, chunk_frames // workers)
    n_chunks = -(-n_frames // per_worker)
    n_chunks = -(-n_chunks // workers) * workers
    return -(-n_frames // n_chunks), workers


def encode_chunked(
    encode: Callable[[torch.Tensor], torch.Tensor],
    wave: torch.Tensor,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
    pad_end: bool = True,
    workers: int = 1,
) -> torch.Tensor:
    """Codes ``[B, N, F]`` for ``wave [B, 1, T]``, ``F = ceil(T / hop)``, computed chunk-wise.

    ``encode`` maps a hop-aligned excerpt ``[B, 1, k*hop]`` to codes ``[B, N, k]``. With
    ``pad_end=False`` the last excerpt ends at the true end of the signal instead of being
    zero-padded to the hop, for networks that pad their own layers (EnCodec's convolutions
    complete the last window by reflection); ``encode`` must then map any length ``L`` to
    ``ceil(L / hop)`` frames. Works for any frame-rate output ``[B, C, k]``, not only codes.
    """
    pieces = encode_stream(encode, [wave], wave.shape[-1], hop_length, margin_frames, chunk_frames, progress,
                           pad_end, workers)
    return torch.cat(list(pieces), dim=-1)


def encode_stream(
    encode: Callable[[torch.Tensor], torch.Tensor],
    blocks: Iterable[torch.Tensor],
    length: int,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
    pad_end: bool = True,
    workers: int = 1,
    alignment: int = 1,
) -> Iterator[torch.Tensor]:
    """``encode_chunked`` of a signal of ``length`` samples given as consecutive ``blocks [B, 1, k]``.

    Yields the codes chunk by chunk, in order; blocks are pulled only as the chunks need
    them, so at most a few chunks of the signal are held whatever its length. ``alignment``:
    see :func:`chunk_plan`.
    """
    n_frames = -(-length // hop_length)
    if n_frames == 0:
        raise ValueError("cannot encode an empty signal")
    pad = n_frames * hop_length - length
    chunk_frames, workers = parallel_chunk_frames(n_frames, chunk_frames, margin_frames, workers)
    plan = list(chunk_plan(n_frames, chunk_frames, margin_frames, alignment))
    window = _SampleWindow(blocks)

    def jobs() -> Iterator[Callable[[], torch.Tensor]]:
        for start, end, ctx_start, ctx_end in plan:
            excerpt = window.take(ctx_start * hop_length, min(length, ctx_end * hop_length))
            if ctx_end == n_frames and pad and pad_end:
                excerpt = torch.nn.functional.pad(excerpt, (0, pad))
            yield lambda excerpt=excerpt, first=start - ctx_start, last=end - ctx_start: (
                encode(excerpt)[..., first:last])
        window.finish(length)

    return run_jobs(jobs(), [end for _, end, _, _ in plan], n_frames, workers, progress)


class _SampleWindow:
    """The part of a block-wise signal that chunks still need: samples ``[first, first + held)``."""

    def __init__(self, blocks: Iterable[torch.Tensor]) -> None:
        self._blocks = iter(blocks)
        self._held: list[torch.Tensor] = []
        self._first = 0  # signal index of the first held sample
        self._end = 0  # one past the last sample received

    def take(self, start: int, stop: int) -> torch.Tensor:
        """Samples ``[start, stop)``; everything before ``start`` is released (chunks move forward)."""
        while self._end < stop:
            block = next(self._blocks, None)
            if block is None:
                raise ValueError(f"the signal ended after {self._end} samples, before sample {stop}")
            self._held.append(block)
            self._end += block.shape[-1]
        while self._held and self._first + self._held[0].shape[-1] <= start:
            self._first += self._held.pop(0).shape[-1]
        pieces, offset = [], self._first
        for block in self._held:
            if offset >= stop:
                break
            pieces.append(block[..., max(0, start - offset) : stop - offset])
            offset += block.shape[-1]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)

    def finish(self, length: int) -> None:
        """Refuse a signal longer than announced (its end would be silently dropped)."""
        if self._end > length or next(self._blocks, None) is not None:
            raise ValueError(f"the signal is longer than the {length} samples announced")


def decode_chunked(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: torch.Tensor,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> torch.Tensor:
    """Waveform for ``codes [B, n, F]``, computed chunk-wise; equal to ``decode(codes)``.

    Sample ``j`` of the output belongs to frame ``j // hop``. The last chunk keeps whatever
    length the decoder produces at the true end of the signal, so output-length quirks of a
    family (e.g. DAC's odd-stride transposed convolutions) are reproduced exactly.
    """
    pieces = decode_stream(decode, codes, hop_length, margin_frames, chunk_frames, progress, workers)
    return torch.cat(list(pieces), dim=-1)


def decode_stream(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: torch.Tensor,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    alignment: int | None = None,
    excerpt_frames: int | None = None,
) -> Iterator[torch.Tensor]:
    """``decode_chunked`` yielding the waveform chunk by chunk, in order (never all of it at once).

    With an ``alignment`` (see :func:`chunk_plan`) the decoder depends on absolute positions
    and is called as ``decode(codes, first_frame)`` with the excerpt's first frame. With
    ``excerpt_frames`` every excerpt has that length (:func:`fixed_length_plan`; not with an
    alignment) and ``chunk_frames`` is not used.
    """
    n_frames = codes.shape[-1]
    if n_frames == 0:
        raise ValueError("cannot decode zero frames")
    if excerpt_frames is None:
        chunk_frames, workers = parallel_chunk_frames(n_frames, chunk_frames, margin_frames, workers)
        plan = list(chunk_plan(n_frames, chunk_frames, margin_frames, alignment or 1))
    else:
        plan = list(fixed_length_plan(n_frames, excerpt_frames, margin_frames))

    def job(start: int, end: int, ctx_start: int, ctx_end: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            excerpt = codes[..., ctx_start:ctx_end]
            wave = decode(excerpt) if alignment is None else decode(excerpt, ctx_start)
            first = (start - ctx_start) * hop_length
            last = None if end == n_frames else (end - ctx_start) * hop_length
            return wave[..., first:last]
        return run

    return run_jobs((job(*ranges) for ranges in plan), [end for _, end, _, _ in plan], n_frames, workers,
                    progress)


def run_jobs(
    jobs: Iterable[Callable[[], torch.Tensor]],
    ends: list[int],
    total: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[torch.Tensor]:
    """Results of ``jobs`` in order; ``progress(ends[i], total)`` after job ``i``.

    Jobs are taken from ``jobs`` only as workers become free (at most two per worker are
    waiting or running), so a lazily made job list -- excerpts of a file being read --
    never piles up in memory. With several workers each runs with one torch thread, under
    the caller's grad mode (grad and inference modes are thread-local). If ``progress``
    raises (a cancellation), jobs not yet started are dropped and the running ones finish
    before it propagates.
    """
    if workers <= 1:
        for run, end in zip(jobs, ends):
            result = run()
            if progress is not None:
                progress(end, total)
            yield result
        return
    grad_enabled, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    caller_threads = torch.get_num_threads()

    def in_caller_mode(run: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad_enabled):
            return run()

    pool = ThreadPoolExecutor(max_workers=workers, initializer=torch.set_num_threads, initargs=(1,),
                              thread_name_prefix="chunk")
    try:
        pending: deque[Future[torch.Tensor]] = deque()
        jobs = iter(jobs)
        for end in ends:
            while len(pending) < 2 * workers and (run := next(jobs, None)) is not None:
                pending.append(pool.submit(in_caller_mode, run))
            result = pending.popleft().result()
            if progress is not None:
                progress(end, total)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        # torch keeps the thread count of new threads in one process-wide setting, which the
        # workers lowered; the caller's own setting is per thread and was never touched.
        torch.set_num_threads(caller_threads)

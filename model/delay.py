"""A codec's delay, estimated from its output, and SI-SDR after undoing it.

SI-SDR compares sample by sample, so an output that is right but a few samples late scores
far below its quality (a one-sample shift of a 10 kHz tone at 44.1 kHz already caps it near
3 dB).  :func:`estimate_delay` finds the shift by cross-correlation over a bounded range of
lags, and :func:`aligned_si_sdr` reports SI-SDR on the overlapping part once the estimate is
moved back by that shift.

Sign convention: a positive delay ``d`` means the estimate lags the reference:
``estimate[t + d] ~ reference[t]``.  The largest *positive* correlation wins (a polarity
inversion is not mistaken for a half-period shift).  One delay is estimated for all items and
channels together: a codec delays every channel alike.
"""
from __future__ import annotations

import numpy as np
import torch

from model.metrics import MetricInputError, paired_items, si_sdr

DEFAULT_MAX_LAG_SECONDS = 0.05  # beyond the delay of the codecs we load (a hop or two, a lookahead)
_FFT_SIZE = 1 << 16  # per block: memory stays bounded on long clips


def _next_fast_length(n: int) -> int:
    """Smallest power of two >= n: a cheap, always-fast FFT size."""
    return 1 << max(0, (n - 1).bit_length())


class DelayEstimator:
    """:func:`estimate_delay` of two signals of ``length`` samples given as consecutive blocks
    ``[rows, k]`` (the reference's and the estimate's blocks need not line up): memory is a block of
    each, not the signals, and the delay is that of the whole-signal call, to the bit.

    The cross-correlation ``c[max_lag + d] = sum over rows and t of est[:, t + d] * ref[:, t]`` for
    ``|d| <= max_lag`` is summed block by block (overlap-save): each block of the reference meets
    the estimate's samples from ``max_lag`` before to ``max_lag`` after it, in one FFT large enough
    that no lag wraps. numpy's FFT: several times faster than torch's on these sizes on a CPU.
    """

    def __init__(self, length: int, max_lag: int) -> None:
        if max_lag < 0:
            raise MetricInputError(f"max_lag must be >= 0, got {max_lag}")
        if length == 0:
            raise MetricInputError("cannot estimate the delay of empty signals")
        self.length, self.max_lag = length, min(max_lag, length - 1)
        self._size = _next_fast_length(max(_FFT_SIZE, 8 * self.max_lag + 1))
        self._block = self._size - 2 * self.max_lag
        self._start = 0  # the reference's frame the next block starts at
        self._ref: np.ndarray | None = None  # the reference from ``_start`` on
        self._est: np.ndarray | None = None  # the estimate from ``_est_first`` on
        self._est_first = 0
        self._ref_end = self._est_end = 0  # frames pushed
        self._total = np.zeros(2 * self.max_lag + 1)

    def push(self, reference: np.ndarray | None = None, estimate: np.ndarray | None = None) -> None:
        """The next frames of either signal or both, ``[rows, k]``."""
        if reference is not None:
            self._ref = _joined(self._ref, reference)
            self._ref_end += reference.shape[-1]
        if estimate is not None:
            self._est = _joined(self._est, estimate)
            self._est_end += estimate.shape[-1]
        while self._start < self.length and self._block_ready():
            self._add_block()

    @property
    def reference_frames(self) -> int:
        return self._ref_end

    @property
    def estimate_frames(self) -> int:
        return self._est_end

    def correlation(self) -> np.ndarray:
        """``c[max_lag + d]`` for ``|d| <= max_lag``, once both signals are pushed whole."""
        if self._ref_end != self.length or self._est_end != self.length:
            raise MetricInputError(f"the signals have {self._ref_end} and {self._est_end} samples, "
                                   f"not {self.length}")
        return self._total

    def delay(self) -> int:
        """The delay (as :func:`estimate_delay`), once both signals are pushed whole."""
        correlation, max_lag = self.correlation(), self.max_lag
        # Lags in the order 0, 1, -1, 2, -2, ...: among equal peaks the smallest shift wins, and with
        # no positive correlation at all (silence) the answer is no shift.
        order = np.arange(2 * max_lag + 1)
        lags = np.where(order % 2 == 1, (order + 1) // 2, -(order // 2))
        values = correlation[lags + max_lag]
        best = int(np.argmax(values))
        return int(lags[best]) if values[best] > 0 else 0

    def _block_ready(self) -> bool:
        end = min(self._start + self._block, self.length)
        return self._ref_end >= end and self._est_end >= min(end + self.max_lag, self.length)

    def _add_block(self) -> None:
        max_lag, length, start = self.max_lag, self.length, self._start
        piece = self._ref[:, :self._block].astype(np.float64)
        lo, hi = start - max_lag, start + piece.shape[-1] + max_lag
        window = np.zeros((piece.shape[0], hi - lo))  # zeros beyond the signal
        first, last = max(lo, 0), min(hi, length)
        window[:, first - lo : last - lo] = self._est[:, first - self._est_first : last - self._est_first]
        spectrum = np.fft.rfft(window, self._size) * np.fft.rfft(piece, self._size).conj()
        self._total += np.fft.irfft(spectrum.sum(axis=0), self._size)[: 2 * max_lag + 1]
        self._start = start + piece.shape[-1]
        self._ref = self._ref[:, piece.shape[-1]:]
        keep_from = max(0, self._start - max_lag)  # what the next block's window reads
        self._est = self._est[:, keep_from - self._est_first:]
        self._est_first = keep_from


def _joined(held: np.ndarray | None, block: np.ndarray) -> np.ndarray:
    """``block`` after what is ``held`` (no copy when nothing is: a whole signal pushed at once stays itself)."""
    return block if held is None or held.shape[-1] == 0 else np.concatenate([held, block], axis=-1)


def estimate_delay(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor,
                   max_lag: int) -> int:
    """Lag in samples within ``[-max_lag, max_lag]`` that best aligns ``estimate`` to ``reference``.

    Linear (not circular) cross-correlation summed over items and channels, by FFT.
    """
    if max_lag < 0:
        raise MetricInputError(f"max_lag must be >= 0, got {max_lag}")
    ref, est = paired_items(reference, estimate)
    length = ref.shape[-1]
    estimator = DelayEstimator(length, max_lag)
    estimator.push(ref.reshape(-1, length).numpy(), est.reshape(-1, length).numpy())
    return estimator.delay()


def shift_to_overlap(reference: torch.Tensor, estimate: torch.Tensor, delay: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The parts of both signals that coincide once ``estimate`` is moved back by ``delay``."""
    length = reference.shape[-1]
    if abs(delay) >= length:
        raise MetricInputError(f"delay {delay} leaves no overlap in {length} samples")
    if delay >= 0:
        return reference[..., : length - delay], estimate[..., delay:]
    return reference[..., -delay:], estimate[..., : length + delay]


@torch.no_grad()
def aligned_si_sdr(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor,
                   max_lag: int) -> tuple[torch.Tensor, int]:
    """``(si_sdr per item after alignment, delay in samples)``; conventions as :func:`si_sdr`."""
    ref, est = paired_items(reference, estimate)
    delay = estimate_delay(ref, est, max_lag)
    return si_sdr(*shift_to_overlap(ref, est, delay)), delay

"""Quality and Opus rows measured in pieces, on a bounded part of a long clip.

The metrics cost about a quarter of a second per second of audio: a three-minute clip took
45 s per row, twice per codebook count. Rows are measured piece by piece (so the thread can
put views first or drop them) on at most MEASURED_SECONDS of the clip.
"""
import numpy as np
import pytest

from app.studio import quality
from app.studio.quality import (MEASURED_SECONDS, PIECE_SECONDS, describe_spans, finish, measured_spans,
                                opus_row_in_pieces, rate_row, rate_row_in_pieces)
from model.metrics import si_sdr
from synthetic_audio import music_clip

RATE = 44100


def noisy(reference, seed=0):
    rng = np.random.default_rng(seed)
    return (reference + 0.02 * rng.standard_normal(reference.shape)).astype(np.float32)


def test_a_short_clip_is_measured_whole_in_consecutive_pieces():
    length = int(11.3 * RATE)
    spans = measured_spans(length, RATE)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert max(stop - start for start, stop in spans) <= PIECE_SECONDS * RATE
    assert describe_spans(spans, length, RATE) == "Measured on the whole clip."


def test_a_long_clip_is_measured_on_excerpts_spread_over_it():
    length = 180 * RATE
    spans = measured_spans(length, RATE)
    assert sum(stop - start for start, stop in spans) == MEASURED_SECONDS * RATE
    assert all(0 <= start < stop <= length for start, stop in spans)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # apart, in order
    assert spans[0][0] < length / len(spans) and spans[-1][1] > length - length / len(spans)  # all over the clip
    assert describe_spans(spans, length, RATE) == \
        f"Measured on 20 s of the 3:00 clip: {len(spans)} excerpts of 4 s spread evenly over it."


def test_one_piece_gives_the_whole_clip_row_and_pieces_come_close_to_it():
    reference = music_clip(9.0, RATE, 2)[:, None, :]
    decoded = noisy(reference)
    whole = rate_row(reference, decoded, RATE, 4, 3.0)
    spans = measured_spans(reference.shape[-1], RATE)
    assert len(spans) == 3
    steps = rate_row_in_pieces(((reference[..., a:b], decoded[..., a:b]) for a, b in spans), RATE, 4, 3.0)
    assert sum(1 for _ in iter(lambda: next(steps, "end"), "end")) == 3  # one yield per piece
    pieces = finish(rate_row_in_pieces(((reference[..., a:b], decoded[..., a:b]) for a, b in spans), RATE, 4, 3.0))
    assert pieces.si_sdr == pytest.approx(float(si_sdr(reference, decoded).mean()), abs=1e-4)  # over all samples
    assert pieces.mel_distance == pytest.approx(whole.mel_distance, rel=0.01)  # only the pieces' edges differ
    assert pieces.stft_distance == pytest.approx(whole.stft_distance, rel=0.01)


def test_an_opus_row_of_a_long_clip_codes_and_measures_only_its_excerpts(monkeypatch):
    seconds = 75.0
    reference = music_clip(seconds, RATE, 1)[:, None, :]
    coded, measured = [], []
    real_round_trip, real_distances = quality.opus_round_trip, quality.spectral_distances
    monkeypatch.setattr(quality, "opus_round_trip",
                        lambda ref, *a: (coded.append(ref.shape[-1]), real_round_trip(ref, *a))[1])
    monkeypatch.setattr(quality, "spectral_distances",
                        lambda ref, est, rate: (measured.append(ref.shape[-1]), real_distances(ref, est, rate))[1])
    spans = measured_spans(reference.shape[-1], RATE)
    kbps, row = finish(opus_row_in_pieces(reference, RATE, 9, 8.0, spans))
    assert sum(measured) == MEASURED_SECONDS * RATE
    context = 2 * quality.OPUS_CONTEXT_S * RATE
    assert len(coded) == len(spans) and sum(coded) == pytest.approx(MEASURED_SECONDS * RATE + len(spans) * context)
    assert kbps == pytest.approx(8.0, rel=0.08) and row.kbps == kbps and row.n_codebooks == 9
    assert row.si_sdr > 5.0  # aligned with its excerpt


def test_no_opus_row_below_its_floor():
    reference = music_clip(2.0, RATE, 1)[:, None, :]
    assert finish(opus_row_in_pieces(reference, RATE, 1, 4.0, measured_spans(reference.shape[-1], RATE))) is None

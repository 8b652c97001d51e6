"""Shipping a run and writing its card, end to end on a tiny training run; the target checks."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open

from app.cli.command_line import main
from release.domain_evaluation import (DOMAINS, DomainEvaluationError, DomainExcerpts, DomainResult, OpusRow,
                                   domain_excerpts, evaluate_domain, evaluate_domain_padded, opus_rows, real_length)
from release import domain_evaluation
from release.model_card import CardInputs, check_targets, render_card, render_evaluation, run_progress
from release.model_shipping import ShippingError, read_best, ship, storage_agreement
from app.studio.quality import rate_row
from release.training_log import LoggedValidation, TrainingLog, read_training_log
from model.evaluation import Evaluation, RateRow, evaluate
from model.export import save_model_file
from model.listening_metrics import measure
from model.loading import load_codec


def _tone(path, rate: int, seconds: float, freq: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32), rate)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished ``tiny`` run on train/ and val/ folders of three domains, two packages each."""
    root = tmp_path_factory.mktemp("card")
    for s, split in enumerate(("train", "val")):
        for g, domain in enumerate(DOMAINS):
            for k in range(2):
                _tone(root / split / domain / f"package{k}" / "clip.wav", 16000, 1.5,
                      150.0 * (g + 1) + 40 * k + 13 * s, seed=100 * s + 10 * g + k)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", "--data", str(root / "train"), "--val", str(root / "val"), "--out", str(root / "run"),
                     "--preset", "tiny", "--threads", "1", "--workers", "0", "--revive-every", "2", "--json-progress"])
    assert code == 0
    (root / "run.log").write_text(out.getvalue())
    return root


def test_the_shipped_file_is_the_best_checkpoint_in_float16(tiny_run, tmp_path):
    best = read_best(tiny_run / "run")
    assert best.step == read_training_log(tiny_run / "run.log").best().step
    path = tmp_path / "shipped.safetensors"
    assert ship(best, path) == path.stat().st_size
    with safe_open(str(path), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
        assert json.loads(f.metadata()["training"])["steps"] == best.step
    audio = domain_excerpts(tiny_run / "val", "music", 16000, 4, 0.5).audio
    agreement = storage_agreement(best.codec(), load_codec(path), audio)
    assert agreement.code_agreement > 0.9 and agreement.decoded_snr_db > 40.0


def test_a_run_export_from_another_step_than_the_best_checkpoint_is_refused(tiny_run, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_bytes((tiny_run / "run" / "config.json").read_bytes())
    (run / "checkpoints" / "best.safetensors").write_bytes(
        (tiny_run / "run" / "checkpoints" / "best.safetensors").read_bytes())
    codec = load_codec(tiny_run / "run" / "model.safetensors")
    best = read_best(tiny_run / "run")
    save_model_file(best.network(), run / "model.safetensors", family="dac", config=codec.config, name="x",
                    extra={"training": json.dumps({"steps": best.step + 1})})
    with pytest.raises(ShippingError, match="run again"):
        read_best(run)


def test_domain_excerpts_are_the_same_every_time(tiny_run):
    first = domain_excerpts(tiny_run / "val", "speech", 16000, 4, 0.5)
    assert first.audio.shape == (4, 1, 8000) and first.lengths == [8000] * 4  # 1.5 s files: no padding
    assert torch.equal(first.audio, domain_excerpts(tiny_run / "val", "speech", 16000, 4, 0.5).audio)
    assert not torch.equal(first.audio, domain_excerpts(tiny_run / "val", "music", 16000, 4, 0.5).audio)
    with pytest.raises(DomainEvaluationError, match="no such validation folder"):
        domain_excerpts(tiny_run / "val", "birdsong", 16000, 4, 0.5)


def test_opus_rows_cut_the_stream_back_into_its_excerpts():
    rate = 44100
    t = np.arange(rate) / rate
    reference = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 1000.0, 3000.0)])[:, None, :]
    reference = reference.astype(np.float32)
    rows = [RateRow(1, 3.0, 0, 0, 0), RateRow(2, 12.0, 0, 0, 0)]
    opus = opus_rows(list(reference[:, None]), rate, rows)
    assert set(opus) == {2}  # Opus has no mode below 6 kbps
    shifted = rate_row(reference, np.roll(reference, 1, axis=0), rate, 2, 12.0)
    # Each excerpt is compared with its own: Opus (12 kbps CBR) keeps a positive SI-SDR on these
    # tones (2.8 dB), an excerpt compared with its neighbour falls below -20 dB.
    assert opus[2].row.si_sdr > 1.0 and shifted.si_sdr < -20.0
    uneven = [reference[0:1, :, :rate // 3], reference[1:2], reference[2:3, :, :rate // 2]]  # cut back apart by length
    assert opus_rows(uneven, rate, rows)[2].row.si_sdr > 1.0


def _domain(name: str, mels: list[float], entropy: list[float], opus_mel: float | None) -> DomainResult:
    rows = [RateRow(n + 1, 0.86 * (n + 1), m, 1.0, 0.0) for n, m in enumerate(mels)]
    opus = {} if opus_mel is None else {len(mels): OpusRow(0.86 * len(mels), RateRow(len(mels), 0, opus_mel, 1, 0))}
    return DomainResult(name, 1.0, Evaluation(rows, entropy, 0.9), torch.zeros(1, len(mels), 4, dtype=torch.long), opus,
                        1)


def test_targets_are_met_only_when_the_numbers_say_so():
    good = [_domain(d, [3.0, 2.0, 1.0], [9.5, 9.2, 9.0], 1.5) for d in DOMAINS]
    assert [t.met for t in check_targets(good, [9.5, 9.2, 9.0])] == [True, True, True]
    bad = [_domain("speech", [3.0, 2.0, 2.1], [9.5, 9.2, 9.0], 2.0), *good[1:]]
    mel, entropy, opus = check_targets(bad, [9.5, 8.99, 9.0])
    assert not mel.met and "not lower at n = 3 (+0.100)" in mel.measured
    assert not entropy.met and "2: 8.99" in entropy.measured
    assert not opus.met and "speech: 2.100 vs Opus 2.000 (+0.100)" in opus.measured
    no_opus = [_domain(d, [3.0, 2.0, 1.0], [9.5, 9.2, 9.0], None) for d in DOMAINS]
    assert not check_targets(no_opus, [9.5, 9.2, 9.0])[2].met


def test_card_from_a_tiny_run(tiny_run, tmp_path):
    best = read_best(tiny_run / "run")
    path = tmp_path / "shipped.safetensors"
    size = ship(best, path)
    codec = load_codec(path)
    excerpts = {d: domain_excerpts(tiny_run / "val", d, codec.sample_rate, 2, 0.5) for d in DOMAINS}
    results = [evaluate_domain(codec, d, excerpts[d]) for d in DOMAINS]
    padded = [evaluate_domain_padded(codec, d, excerpts[d]) for d in DOMAINS]
    audio = excerpts["music"].audio

    def card(log, earlier: str = "", padding: list[DomainResult] | None = None) -> str:
        return render_card(CardInputs(best.config, codec, size, best.step, log, 1, results, 2, 0.5, 0,
                                      storage_agreement(best.codec(), codec, audio), 1.0, "make it", earlier,
                                      padding))

    log = read_training_log(tiny_run / "run.log")
    finished = card(log)
    assert "Interim" not in finished and "## Targets" in finished
    revived = log.revivals
    assert sorted(revived) == [2, 4, 6]
    assert (f"3 revival(s) from step 2 to 6, {revived[2]:,} codes revived at the first and {revived[6]:,} at the "
            f"last (of 96)") in finished
    assert f"The shipped checkpoint (step {best.step:,}) is from {'before' if best.step < 2 else 'after'}" in finished
    for result in results:
        section = finished.split(f"### {result.domain}\n")[1].split("###")[0]
        first, last = result.evaluation.rows[0], result.evaluation.rows[-1]
        assert f"| 1 | {first.kbps:.2f} | {first.mel_distance:.3f} |" in section
        assert "| – | – | – | – |" in section.splitlines()[4]  # 2.5 kbps: no Opus
        assert f"| {result.opus[3].measured_kbps:.2f} | {result.opus[3].row.mel_distance:.3f} |" in section
        assert last.n_codebooks == 3
    lines = (tiny_run / "run.log").read_text().splitlines()
    (tmp_path / "cut.log").write_text("\n".join(lines[:-1]) + "\n")  # no "done" yet: still training
    assert "Interim checkpoint" in card(read_training_log(tmp_path / "cut.log"))
    record = "### Run 0\n\n| step | n=1 |\n| ---: | ---: |\n| 0 | 6.745 |\n"
    with_record = card(log, record)
    history = with_record.split("## Validation history")[1].split("## Per-domain")[0]
    assert history.rstrip().endswith(record.rstrip())  # verbatim, after this run's own table
    assert "### Run 0" not in finished
    assert "## Padding check" not in finished
    check = card(log, padding=padded).split("## Padding check")[1].split("## Float16")[0]
    music = check.split("| music | ")[1].splitlines()[0]
    assert music.startswith(f"0.0% | {results[1].evaluation.rows[-1].mel_distance:.3f} |")
    assert f"decay {best.config.preset.lr_gamma} per step)" in finished
    log.lr_decays = [(0, 0.999996), (4, 0.9)]  # a resume changed the decay at step 4
    assert "decay 0.999996 per step, 0.9 from step 4)" in card(log)


def test_progress_names_the_best_the_trend_and_the_adversarial_phase():
    def validation(step, mel):
        return LoggedValidation(step, [RateRow(12, 10.3, mel, 4.0, -30.0)], [8.0], 0.8, 50.0)

    log = TrainingLog(validations=[validation(6000, 2.035), validation(7000, 2.05), validation(8000, 2.07)],
                      last_step=8030, total_steps=28000, gan_start_step=8000)
    text = run_progress(log)
    assert "best validation mel distance is 2.035, at step 6,000" in text
    assert "not falling (2.050 at step 7,000, 2.070 at step 8,000)" in text
    assert "adversarial phase began at step 8,000; it has no validation yet" in text
    log.validations.append(validation(9000, 2.23))
    log.validations.append(validation(10000, 2.11))
    log.last_step = 10000
    text = run_progress(log)
    assert "still falling (2.230 at step 9,000, 2.110 at step 10,000)" in text
    assert "best validation mel distance is 2.035, at step 6,000" in text
    assert "2 of the validations are from it" in text


def test_real_length_ends_at_the_last_non_zero_sample():
    excerpt = torch.zeros(1, 1, 100)
    excerpt[0, 0, [3, 41]] = torch.tensor([0.5, -1e-7])
    assert real_length(excerpt) == 42
    assert real_length(torch.zeros(1, 1, 10)) == 1  # nothing to score; one sample keeps the shapes valid


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory):
    """A validation domain of clips shorter than the excerpt: the excerpts come back zero-padded."""
    root = tmp_path_factory.mktemp("short")
    _tone(root / "speech" / "a" / "letter.wav", 16000, 0.3, 220.0, seed=1)
    _tone(root / "speech" / "b" / "word.wav", 16000, 0.8, 330.0, seed=2)
    return domain_excerpts(root, "speech", 16000, 4, 1.0)


def test_short_clips_are_scored_on_their_real_audio_only(tiny_run, short_clips):
    lengths = short_clips.lengths
    assert sorted(set(lengths)) == [4800, 12800]  # 0.3 s and 0.8 s of 1 s, each group twice
    assert short_clips.padded_share == pytest.approx(1 - 2 * (4800 + 12800) / 64000)
    codec = load_codec(tiny_run / "run" / "model.safetensors")
    result = evaluate_domain(codec, "speech", short_clips)
    assert result.seconds == pytest.approx(sum(lengths) / 16000) and result.excerpts == 4
    assert result.codes.shape == (1, codec.n_codebooks, sum(-(-n // codec.hop_length) for n in lengths))
    alone = [evaluate(codec, clip, codec.encode(clip)).rows[-1] for clip in short_clips.clips]
    expected = sum(r.mel_distance * n for r, n in zip(alone, lengths)) / sum(lengths)
    assert result.evaluation.rows[-1].mel_distance == pytest.approx(expected)
    padded = evaluate_domain_padded(codec, "speech", short_clips)
    whole = evaluate(codec, short_clips.audio, codec.encode(short_clips.audio))
    assert padded.evaluation.rows == whole.rows  # the card's measure up to step 17,000, unchanged
    assert padded.codes.shape[-1] == 4 * codec.encode(short_clips.audio).shape[-1]
    assert padded.evaluation.rows[-1].mel_distance != pytest.approx(result.evaluation.rows[-1].mel_distance)


def test_listening_tables_put_opus_beside_the_codec_at_the_same_count():
    domains = [_domain(d, [3.0, 2.0, 1.0], [9.5, 9.2, 9.0], 1.5) for d in DOMAINS]
    keys = ("visqol", "visqol_speech", "stoi", "estoi", "dnsmos_ovrl")
    for k, d in enumerate(domains):
        d.listening = {n: dict(zip(keys, (1.0 + n, 2.0 + n, 0.1 * n, 0.2 * n, 3.0 + k))) for n in (1, 2, 3)}
        d.opus[3] = replace(d.opus[3], listening=dict(zip(keys, (4.5, 4.25, 0.75, 0.5, None))))
    text = render_evaluation(CardInputs(None, _SizedCodec(), 0, 0, None, 1, domains, 1, 1.0, 0, None, 60.0, "",
                                        evaluation_note="Remade."))
    assert "1.0 CPU-minutes for all three domains. Remade." in text
    speech = text.split("Listening metrics, speech")[1].split("###")[0]
    assert "| 3 | 2.58 | 4.000 | 5.000 | 0.300 | 0.600 | 3.000 | 4.500 | 4.250 | 0.750 | 0.500 | – |" in speech
    assert "| 1 | 0.86 | 2.000 | 3.000 | 0.100 | 0.200 | 3.000 | – | – | – | – | – |" in speech  # no Opus below 6 kbps


class _SizedCodec:
    codebook_size = 1024
    bits_per_code = 10.0


def test_card_listening_figures_are_weighted_by_length_over_the_excerpts_they_are_defined_on(monkeypatch):
    monkeypatch.setattr(domain_evaluation, "CARD_LISTENING", ("stoi",))
    rate = 16000
    rng = np.random.default_rng(4)
    pairs = []
    for seconds in (0.3, 1.0, 2.0):  # 0.3 s is too short for STOI: it does not count
        reference = rng.standard_normal((1, 1, int(seconds * rate))).astype(np.float32)
        pairs.append((reference, (reference + 0.5 * rng.standard_normal(reference.shape)).astype(np.float32)))
    got = domain_evaluation.weighted_listening(pairs, rate)
    one, two = (measure("stoi", *pair, rate).values["stoi"] for pair in pairs[1:])
    assert measure("stoi", *pairs[0], rate).values["stoi"] is None
    assert got["stoi"] == pytest.approx((one * 1.0 + two * 2.0) / 3.0, rel=1e-12)


def test_the_card_refresh_replaces_the_evaluation_sections_and_keeps_the_rest():
    spec = importlib.util.spec_from_file_location("refresh_card_evaluation",
                                                  Path(__file__).resolve().parents[2] / "scripts" / "refresh_card_evaluation.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    card = "# Card\n\n## Validation history\n\nkept\n\n## Per-domain evaluation\n\nold\n\n## Targets\n\nold\n\n" \
           "## Float16 storage\n\nkept too\n"
    new = script.splice(card, "## Per-domain evaluation\n\nnew\n\n")
    assert new == "# Card\n\n## Validation history\n\nkept\n\n## Per-domain evaluation\n\nnew\n\n## Float16 storage\n\nkept too\n"
    subset = "## " + script.SUBSET_TITLE[3:] + "\n\nfirst\n\n"
    once = script.splice(new, subset, script.SUBSET_TITLE)  # a section of its own, before Float16 storage
    assert once == new.replace("## Float16 storage", subset + "## Float16 storage")
    assert script.splice(once, subset.replace("first", "second"), script.SUBSET_TITLE) == \
        once.replace("first", "second")  # replaced when made again
    with pytest.raises(script.CardLayoutError):
        script.splice("# Card\n\n## Per-domain evaluation\n", "x")

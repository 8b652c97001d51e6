"""Audio files whose headers lie, against every reader, under a memory limit.

Each file is a real file of a container libsndfile writes and reads, with one header field set
to a hostile value (:mod:`crafted_audio`: lengths of 2^31, 2^40 or the field's largest value,
FLAC's "unknown" length, absurd channel counts and rates). The readers run in a child process
whose address space is capped a little above its size after the imports, so a buffer sized
from a claim fails there instead of being mapped by luck of overcommit; its resident peak is
measured too. Every file must either read the same whole, in blocks, from a position and by
its header's length, or be refused with one line naming it. Where only a length claim changed,
what reads must be the untampered file's samples; a decoder that trims its last frame's
padding by the claimed length (Ogg's granule position, MP3's Xing count) keeps that padding
when the claim is a lie, so a few hundred frames may follow them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from crafted_audio import CRAFTS, SOURCES, Craft
from resident_size import STATUS

import model.audio_io as audio_io
from app.studio.clip import checked_blocks, read_checked
from model.audio_io import AudioFileError, read_audio
from model.codec import Codec
from model.compression import compress_file, read_clip

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
RATE, FRAMES = 48_000, 20_000  # 48 kHz: MP3 as MPEG-1 Layer III, which reads the same from a position
ADDRESS_SPACE_MARGIN = 512 * MIB  # over the child's size after its imports and references
PEAK_LIMIT = 64 * MIB  # a few pieces and blocks; any file's claim would be gigabytes
DECODER_TAIL = 2048  # padding of a last Vorbis block or MP3 frame, untrimmed when the length lies
HOSTILE_BYTES = [b"\xff" * 4, b"\x7f\xff\xff\xff", b"\xff\xff\xff\x7f", b"\xff" * 8, b"\x00" * 4]
SWEPT_BYTES = 64
# libsndfile decodes a FLAC stream whose STREAMINFO says every block has one size (equal minimum
# and maximum) larger than its frames' into wrong samples, different for different read sizes:
# a misreading below this project, not a question of memory; the sweep checks only safety there.
MISREAD_BYTES = {".flac": range(8, 12)}

# The child imports model.audio_io without the model package's __init__, which loads torch
# (a second of the test, and a gigabyte of address space it does not use).
READER = """
import json, resource, sys, types
import numpy as np
from resident_size import reset_peak, status_bytes
sys.modules["model"] = types.ModuleType("model")
sys.modules["model"].__path__ = [sys.argv[2]]
from model.audio_io import AudioFileError, audio_info, read_audio, read_blocks

cases = json.loads(sys.stdin.read())
references = {case["source"]: read_audio(case["source"]).samples for case in cases}
size = status_bytes("VmSize") + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (size, size))
reset_peak()
before = status_bytes("VmHWM")

def outcome(read):
    try:
        return {"read": read()}
    except AudioFileError as error:
        return {"refused": str(error)}
    except BaseException as error:
        return {"crashed": f"{type(error).__name__}: {str(error)[:200]}"}

def summary(samples, reference, whole):
    if isinstance(samples, int):
        return samples
    out = {"shape": list(samples.shape)}
    if whole is not None:
        out["as_whole"] = bool(np.array_equal(samples, whole))
    if samples.shape[0] == reference.shape[0] and samples.shape[1] >= reference.shape[1]:
        out["source_first"] = bool(np.array_equal(samples[:, :reference.shape[1]], reference))
    return out

for case in cases:
    path, reference = case["path"], references[case["source"]]
    whole = outcome(lambda: read_audio(path).samples)
    kept = whole.get("read")
    report = {"path": path, "info": outcome(lambda: audio_info(path).frames),
              "whole": whole, "blocks": outcome(lambda: np.concatenate(list(read_blocks(path, 4099)), axis=1)),
              "part": outcome(lambda: read_audio(path, start=1000, frames=3000).samples)}
    for name in ("whole", "blocks", "part"):
        if "read" in report[name]:
            part_of = None if kept is None else kept if name != "part" else kept[:, 1000:4000]
            report[name]["read"] = summary(report[name]["read"], reference, None if name == "whole" else part_of)
    print(json.dumps(report), flush=True)
print(json.dumps({"peak": status_bytes("VmHWM") - before}), flush=True)
"""


def _sources(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    signal = (0.3 * rng.standard_normal((FRAMES, 2))).astype(np.float32)
    paths = {}
    for suffix, (container, subtype, channels) in SOURCES.items():
        paths[suffix] = folder / f"source.{suffix}"
        sf.write(paths[suffix], signal[:, :channels], RATE, format=container, subtype=subtype)
    return paths


def _crafted(folder: Path) -> list[tuple[Craft, Path, Path]]:
    """``(craft, crafted file, its source)`` for every named craft."""
    out = []
    for suffix, source in _sources(folder).items():
        data = source.read_bytes()
        for i, craft in enumerate(CRAFTS[suffix]):
            crafted = craft.patch(data)
            assert crafted != data and len(crafted) == len(data), craft.name
            path = folder / f"crafted{i}.{suffix}"
            path.write_bytes(crafted)
            out.append((craft, path, source))
    return out


def _read_in_child(cases: list[tuple[Path, Path]]) -> tuple[dict[str, dict], int]:
    """Each file's reports (by path) and the child's resident peak over its references."""
    support = str(ROOT / "tests" / "support")
    env = {**os.environ, "PYTHONPATH": support, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    stdin = json.dumps([{"path": str(path), "source": str(source)} for path, source in cases])
    done = subprocess.run([sys.executable, "-c", READER, str(ADDRESS_SPACE_MARGIN), str(ROOT / "model")],
                          input=stdin, text=True, capture_output=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {line["path"]: line for line in lines[:-1]}, lines[-1]["peak"]


def _check_report(report: dict, craft_name: str, length_only: bool, agreeing: bool = True) -> None:
    """One file's outcomes: no crash, one-line refusals naming it, the readers agreeing."""
    where = f"{Path(report['path']).name} ({craft_name})"
    for name in ("info", "whole", "blocks", "part"):
        assert "crashed" not in report[name], f"{where}: {name} crashed: {report[name]['crashed']}"
        if "refused" in report[name]:
            message = report[name]["refused"]
            assert "\n" not in message and message.startswith(Path(report["path"]).name), (where, message)
    if "read" not in report["whole"] or not agreeing:
        return
    whole = report["whole"]["read"]
    channels, frames = whole["shape"]
    assert report["info"].get("read") == frames, (where, report["info"], frames)
    assert report["blocks"].get("read", {}).get("as_whole"), (where, report["blocks"])
    if frames > 1000:
        assert report["part"].get("read", {}).get("as_whole"), (where, report["part"])
    if length_only:
        assert whole.get("source_first") and frames - FRAMES <= DECODER_TAIL, (where, whole)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> list[tuple[Craft, Path, Path]]:
    return _crafted(tmp_path_factory.mktemp("crafted"))


@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_every_crafted_length_channel_count_and_rate_reads_exactly_or_is_refused_in_bounded_memory(crafted):
    reports, peak = _read_in_child([(path, source) for _, path, source in crafted])
    for craft, path, _ in crafted:
        _check_report(reports[str(path)], craft.name, craft.length_only)
    assert peak <= PEAK_LIMIT, f"reading the crafted files raised the resident peak by {peak / MIB:.0f} MiB"
    unknown = next(path for craft, path, _ in crafted if craft.name == "total samples unknown (0)")
    assert reports[str(unknown)]["whole"]["read"] == {"shape": [2, FRAMES], "source_first": True}, (
        "a FLAC stream of unknown length (what streaming encoders write) is a legitimate file")


def test_the_studio_and_the_encode_command_read_what_the_readers_read(crafted, tmp_path, make_small_dac):
    """read_checked and checked_blocks on each file whose length alone lies, and compress_file
    (``rvq-studio encode``) on the first of each container: the samples read_audio gives, or one
    line; a short file is not refused as hours long."""
    codec = Codec(make_small_dac((2, 4, 5, 8), RATE), name="small", family="dac", config={})
    encoded = set()
    for craft, path, source in crafted:
        if not craft.length_only:
            continue
        try:
            expected = read_audio(path)
        except AudioFileError:
            with pytest.raises(AudioFileError):
                read_checked(path)
            continue
        audio = read_checked(path)
        assert np.array_equal(audio.samples, expected.samples), craft.name
        assert np.array_equal(np.concatenate(list(checked_blocks(path)), axis=1), expected.samples), craft.name
        if source not in encoded:
            encoded.add(source)
            compress_file(codec, path, tmp_path / "encoded.rvq")
            assert read_clip(codec, tmp_path / "encoded.rvq").length == expected.frames, craft.name


def test_a_file_grown_past_the_studio_limit_after_its_header_was_read_is_stopped_there(tmp_path, monkeypatch):
    """The header said one second (a recording still being written, say); the file holds five:
    the studio reads no further than its limit and one frame."""
    import app.studio.clip as clip

    path = tmp_path / "growing.wav"
    sf.write(path, (0.3 * np.random.default_rng(1).standard_normal((5 * RATE, 2))).astype(np.float32), RATE)
    checked = audio_io.audio_info(path)
    checked.frames = RATE
    monkeypatch.setattr(clip, "audio_info", lambda _: checked)
    monkeypatch.setattr(clip, "MAX_SECONDS", 2)
    read: list[int] = []
    real_read = clip.read_audio
    monkeypatch.setattr(clip, "read_audio", lambda p, **kw: read.append(kw["frames"]) or real_read(p, **kw))
    with pytest.raises(clip.ClipRejected, match="longer than its header says"):
        read_checked(path)
    assert read == [2 * RATE + 1]
    with pytest.raises(clip.ClipRejected, match="longer than its header says"):
        for _ in checked_blocks(path):
            pass


@pytest.mark.parametrize("suffix, container, subtype", [("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"),
                                                        ("mp3", "MP3", "MPEG_LAYER_III")])
def test_a_compressed_file_decoded_into_several_pieces_reads_the_same(tmp_path, monkeypatch, suffix, container,
                                                                      subtype):
    """Pieces of one block each (the real ones hold 32 MB): joined, they are libsndfile's one-call
    decode, whole and up to a length that ends inside a piece."""
    from synthetic_audio import music_clip

    path = tmp_path / f"clip.{suffix}"
    sf.write(path, music_clip(4.0, RATE, channels=2).T, RATE, format=container, subtype=subtype)
    reference = np.ascontiguousarray(sf.read(path, dtype="float32", always_2d=True)[0].T)
    monkeypatch.setattr(audio_io, "SEGMENT_BYTES", 1)
    assert np.array_equal(read_audio(path).samples, reference)
    assert np.array_equal(read_audio(path, frames=3 * audio_io.BLOCK_FRAMES // 2).samples,
                          reference[:, : 3 * audio_io.BLOCK_FRAMES // 2])


def _swept(folder: Path) -> list[tuple[Path, Path]]:
    """Every source with each of its first :data:`SWEPT_BYTES` bytes starting a hostile value
    (the value at the offset in the file's name)."""
    out = []
    for suffix, source in _sources(folder).items():
        data = source.read_bytes()
        for offset in range(min(SWEPT_BYTES, len(data))):
            for k, value in enumerate(HOSTILE_BYTES):
                crafted = data[:offset] + value + data[offset + len(value):]
                if crafted[: len(data)] != data:
                    path = folder / f"swept{offset}-{offset + len(value)}_{k}.{suffix}"
                    path.write_bytes(crafted[: len(data)])
                    out.append((path, source))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_hostile_values_anywhere_in_the_first_bytes_of_every_container_are_read_consistently_or_refused(tmp_path):
    """Some 4,000 files, each with a hostile value at one offset of its first 64 bytes (sizes,
    counts, rates, magic, whatever lies there): no crash, no memory, the readers agree."""
    swept = _swept(tmp_path)
    reports, peak = _read_in_child(swept)
    for path, _ in swept:
        start, end = map(int, path.name[len("swept"):].split("_")[0].split("-"))
        misread = set(range(start, end)) & set(MISREAD_BYTES.get(path.suffix, ()))
        _check_report(reports[str(path)], "swept", length_only=False, agreeing=not misread)
    assert peak <= PEAK_LIMIT, f"reading the swept files raised the resident peak by {peak / MIB:.0f} MiB"

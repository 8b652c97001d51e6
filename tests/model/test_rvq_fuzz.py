"""Crafted .rvq headers (valid checksums) against the reader, under a memory limit.

Every file here is a real file with header fields set to hostile values and both checksums
recomputed, so only the reader's validation stands between the header and an allocation.
The reader runs in a child process whose address space is capped: each file must be
refused with one ValueError-type line, never a MemoryError, another exception or a crash.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from crafted_rvq import rebuild, split

from model.rvq_format import RvqMetadata, write_rvq

ADDRESS_SPACE_LIMIT = 1536 << 20  # torch's import alone maps ~650 MB; a crafted file must not add 900
HOSTILE_VALUES = {
    "length": [-1, 0, 1, 300_000_000, 10**10, 2**63, 1.5],
    "original_sample_rate": [0, 1, 999, 768_001, 10**9, 2**40],
    "sample_rate": [0, 16000, 10**9],
    "channels": [0, 2, 3, 65, 100, 1_000_000],
    "hop_length": [0, 1, 256, 10**9],
    "codebook_size": [0, 2, 1023, 1025, 2**32, 2**33],
    "n_codebooks": [0, 10, 10**6],
    "frames": [0, 199, 10**6, 2**28, 2**40],
    "loudness_lufs": [1000, -1000, -1e308, 1e308, 10.5, -70.5],
    "payload_bytes": [0, 1, 2**40],
    "entropy_coded": [True, False],
}
SPEC = dict(codec_name="m", codec_id="ab" * 32, sample_rate=44100, hop_length=512, codebook_size=1024,
            n_codebooks=9)

READER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from model.rvq_format import DecoderSpec, read_rvq
spec = DecoderSpec(**json.loads(sys.argv[2]))
for path in sys.argv[3:]:
    try:
        codes, _ = read_rvq(path, spec)
        outcome = {"accepted": list(codes.shape)}
    except ValueError as error:
        outcome = {"refused": str(error)}
    except BaseException as error:
        outcome = {"crashed": type(error).__name__ + ": " + str(error)[:200]}
    print(json.dumps({"file": path, **outcome}), flush=True)
"""


def _source_files(folder: Path) -> list[bytes]:
    """Mono and stereo, raw and range-coded, skewed and constant codes of the SPEC model."""
    rng = np.random.default_rng(0)
    frames = 200
    meta = RvqMetadata(codec_name="m", codec_id="ab" * 32, sample_rate=44100, original_sample_rate=48000,
                       length=frames * 512 * 48000 // 44100, hop_length=512, codebook_size=1024,
                       loudness_lufs=-20.0)
    skewed = np.minimum(rng.geometric(0.05, size=(2, 4, frames)), 1023)
    sources = []
    for codes in (skewed[:1], skewed, np.zeros((1, 4, frames), dtype=int)):
        for entropy_coding in (False, True):
            write_rvq(folder / "source.rvq", codes, meta, entropy_coding)
            sources.append((folder / "source.rvq").read_bytes())
    return sources


def _crafted_headers(sources: list[bytes]) -> list[bytes]:
    """Every hostile value of every field, then random combinations of two to four of them."""
    crafted = []
    for data in sources:
        header, payload = split(data)
        for key, values in HOSTILE_VALUES.items():
            crafted += [rebuild({**header, key: value}, payload) for value in values if value != header[key]]
        frames_at_length = {"frames": 2**28, "length": 2**28 * 512 * 48000 // 44100}
        crafted.append(rebuild({**header, **frames_at_length}, payload))
        crafted.append(rebuild({**header, "channels": 64, "frames": 1, "length": 1}, payload))
    rng = random.Random(26)
    for _ in range(300):
        header, payload = split(rng.choice(sources))
        keys = rng.sample(sorted(HOSTILE_VALUES), rng.randint(2, 4))
        forged = {**header, **{key: rng.choice(HOSTILE_VALUES[key]) for key in keys}}
        if forged != header:
            crafted.append(rebuild(forged, payload))
    return crafted


@pytest.mark.slow  # hundreds of crafted files in a child process (about 11 s): the fast suite keeps its ten-minute budget
def test_crafted_headers_are_refused_within_a_memory_limit(tmp_path):
    files = []
    for index, data in enumerate(_crafted_headers(_source_files(tmp_path))):
        files.append(tmp_path / f"crafted-{index}.rvq")
        files[-1].write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", READER, str(ADDRESS_SPACE_LIMIT), json.dumps(SPEC), *map(str, files)],
        capture_output=True, text=True, timeout=600, env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                                          "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outcomes = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(outcomes) == len(files)
    accepted = [o for o in outcomes if "refused" not in o]
    assert accepted == [], accepted[:5]
    assert all(len(o["refused"].splitlines()) == 1 for o in outcomes)


@pytest.mark.parametrize("source", range(6))
def test_the_uncrafted_sources_are_read(tmp_path, source):
    """The fuzz refusals are the crafted fields' doing: the files they come from are valid."""
    from model.rvq_format import DecoderSpec, read_rvq

    path = tmp_path / "valid.rvq"
    path.write_bytes(_source_files(tmp_path)[source])
    codes, meta = read_rvq(path, DecoderSpec(**SPEC))
    assert codes.shape[1:] == (4, 200) and meta.loudness_lufs == -20.0

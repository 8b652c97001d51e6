"""`rvq-studio models list | get | remove` against a local server standing in for the sources
(through the mirror setting): the random-weight fixtures served under the official file names.

No test touches the internet: the mirror replaces every source's scheme and host with the
local server's, and proxies are bypassed for 127.0.0.1.
"""
import dataclasses
import errno
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli.command_line import main
from app.model_downloads import transfer
from app.model_downloads.cache_folders import hf_repo_folder, installed_path
from app.model_downloads.catalogue import find_entry, load_catalogue
from app.model_downloads.manager import get_model, remove_model
from app.model_downloads.transfer import mirrored
from app.studio.model_catalog import model_entries
from model import load_codec
from model_server import ModelServer, serve_models, without_family

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DAC_PATH = "/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth"
ENCODEC_PATH = "/encodec/v0/encodec_24khz-d7cc33bc.th"
MIMI_FILE = "tokenizer-e351c8d8-checkpoint125.safetensors"
MIMI_PATH = f"/kyutai/moshiko-pytorch-bf16/resolve/main/{MIMI_FILE}"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def server(monkeypatch, tmp_path):
    """The local source, set as the mirror; caches and settings in the test's own folder."""
    source = serve_models(monkeypatch, tmp_path)
    yield source
    source.stop()


def dac_folder() -> Path:
    return Path.home() / ".cache" / "descript" / "dac"


def run(*argv) -> int:
    return main(["models", *argv])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rvq-studio: error: ") and "Traceback" not in err
    return err


def test_mirror_replaces_scheme_and_host_and_keeps_the_path():
    url = "https://huggingface.co/kyutai/m/resolve/main/f.safetensors"
    assert mirrored(url, "http://models.example.org/cache/") == "http://models.example.org/cache/kyutai/m/resolve/main/f.safetensors"
    assert mirrored(url, None) == url


def test_catalogue_entries_are_complete_and_torch_hub_names_carry_their_checksum():
    entries = load_catalogue()
    assert {"dac", "encodec", "snac", "mimi"} <= {e.family for e in entries}
    for entry in entries:
        assert entry.licence and entry.licence_source and entry.files and entry.bitrates_kbps
        if entry.cache == "torch_hub":  # torch hub names a file NAME-<first sha256 hex digits>.EXT
            (file,) = entry.files
            assert file.name.split("-")[-1].split(".")[0] == file.sha256


def test_list_shows_what_exists_what_is_downloaded_and_where(server, capsys, monkeypatch):
    server.served.files[DAC_PATH] = (FIXTURES / "dac" / "dac44k.pth").read_bytes()
    without_family(monkeypatch, "snac")
    assert run("list") == 0
    before = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "not downloaded" in before["dac-44khz-8kbps"] and "licence: MIT" in before["dac-44khz-8kbps"]
    assert "not supported by this version (family snac)" in before["snac-24khz"]
    assert "licence: CC-BY 4.0" in before["mimi"]
    assert run("get", "dac-44khz-8kbps") == 0
    capsys.readouterr()
    assert run("list") == 0
    after = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert f"downloaded: {dac_folder() / 'weights_44khz_8kbps_0.0.1.pth'}" in after["dac-44khz-8kbps"]


def test_get_keeps_the_dac_release_where_the_dac_package_looks_and_it_loads(server, capsys):
    fixture = FIXTURES / "dac" / "dac44k.pth"
    server.served.files[DAC_PATH] = fixture.read_bytes()
    assert run("get", "dac-44khz-8kbps") == 0
    kept = dac_folder() / "weights_44khz_8kbps_0.0.1.pth"
    assert capsys.readouterr().out.strip() == str(kept)
    assert kept.read_bytes() == fixture.read_bytes()
    assert sorted(p.name for p in dac_folder().iterdir()) == [kept.name]  # no .part, no staging folder left
    ref = np.load(FIXTURES / "dac" / "dac44k_expected.npz", allow_pickle=False)
    codes = load_codec(kept).encode(torch.from_numpy(ref["input"][..., : int(ref["input_length"])]))
    assert torch.equal(codes, torch.from_numpy(ref["codes"]).long())
    assert str(kept) in [e.source for e in model_entries([])]  # the studio's picker finds it
    requests = len(server.served.requests)
    assert run("get", "dac-44khz-8kbps") == 0  # already there: no transfer
    assert len(server.served.requests) == requests


def test_an_interrupted_transfer_resumes_with_a_range_request(server, capsys):
    body = (FIXTURES / "dac" / "dac44k.pth").read_bytes()
    server.served.files[DAC_PATH] = body
    server.served.drop_after[DAC_PATH] = 300_000
    assert run("get", "dac-44khz-8kbps") == 2
    assert "run the same command again to resume" in one_error_line(capsys)
    kept = dac_folder() / "weights_44khz_8kbps_0.0.1.pth"
    part = dac_folder() / "weights_44khz_8kbps_0.0.1.pth.part"
    assert not kept.exists() and part.stat().st_size == 300_000
    assert run("get", "dac-44khz-8kbps") == 0
    assert server.served.requests[-1] == (DAC_PATH, "bytes=300000-")
    assert kept.read_bytes() == body and not part.exists()


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(server, capsys):
    """The fixture is not the release: its sha256 does not start with the d7cc33bc the name promises."""
    server.served.files[ENCODEC_PATH] = (FIXTURES / "encodec" / "encodec24k.th").read_bytes()
    assert run("get", "encodec-24khz") == 2
    assert "checksum mismatch" in one_error_line(capsys)
    checkpoints = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    assert list(checkpoints.iterdir()) == []  # neither the final name nor a .part to resume from


def test_encodec_goes_to_torch_hubs_checkpoints_and_loads(server):
    body = (FIXTURES / "encodec" / "encodec24k.th").read_bytes()
    server.served.files[ENCODEC_PATH] = body
    official = find_entry("encodec-24khz")
    entry = dataclasses.replace(official, files=(dataclasses.replace(official.files[0],
                                                                     sha256=hashlib.sha256(body).hexdigest()),))
    kept = get_model(entry, server.url)
    assert kept == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "encodec_24khz-d7cc33bc.th"
    assert kept.read_bytes() == body and load_codec(kept).family == "encodec"


def test_mimi_goes_to_the_hugging_face_cache_layout_and_remove_leaves_the_repositorys_other_files(server, capsys):
    body = (FIXTURES / "mimi" / "mimi.safetensors").read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    # as Hugging Face serves a large file: a redirect stating the commit and sha256, then the CDN's answer
    server.served.redirects[MIMI_PATH] = (f"/cdn/{digest}", {"X-Repo-Commit": COMMIT, "X-Linked-Etag": f'"{digest}"'})
    server.served.files[f"/cdn/{digest}"] = body
    server.served.headers[f"/cdn/{digest}"] = {"ETag": '"d41d8cd98f00b204e9800998ecf8427e-12"'}
    assert run("get", "mimi") == 0
    repo = Path(os.environ["HF_HOME"]) / "hub" / "models--kyutai--moshiko-pytorch-bf16"
    link = repo / "snapshots" / COMMIT / MIMI_FILE
    assert capsys.readouterr().out.strip() == str(link)
    assert os.readlink(link) == f"../../blobs/{digest}" and link.read_bytes() == body
    assert (repo / "refs" / "main").read_text() == COMMIT
    assert load_codec(link).family == "mimi"
    assert str(link) in [e.source for e in model_entries([])]
    language_model = repo / "snapshots" / COMMIT / "model.safetensors"  # what Moshi keeps beside Mimi
    (repo / "blobs" / "lm").write_bytes(b"moshi")
    language_model.symlink_to("../../blobs/lm")
    assert run("remove", "mimi") == 0
    assert not link.exists() and not (repo / "blobs" / digest).exists()
    assert language_model.read_bytes() == b"moshi"
    assert installed_path(find_entry("mimi")) is None


def test_encodec_48khz_goes_to_torch_hubs_checkpoints_and_loads_as_the_stereo_codec(server):
    body = (FIXTURES / "encodec" / "encodec48k.th").read_bytes()
    server.served.files["/encodec/v0/encodec_48khz-7e698e3e.th"] = body
    official = find_entry("encodec-48khz")
    entry = dataclasses.replace(official, files=(dataclasses.replace(official.files[0],
                                                                     sha256=hashlib.sha256(body).hexdigest()),))
    kept = get_model(entry, server.url)
    assert kept == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "encodec_48khz-7e698e3e.th"
    codec = load_codec(kept)
    assert (codec.family, codec.sample_rate, codec.channels) == ("encodec", 48000, 2)


def test_snac_arrives_as_its_release_folder_in_the_hugging_face_cache_and_reproduces_its_codes(server, capsys):
    """Two files: config.json (a small file: Hugging Face's etag is its git hash, not a sha256) and
    the weights (a large one: redirected with its sha256); the weights load with the config beside them."""
    folder = FIXTURES / "snac" / "snac24k"
    config, weights = (folder / "config.json").read_bytes(), (folder / "pytorch_model.bin").read_bytes()
    digest = hashlib.sha256(weights).hexdigest()
    base = "/hubertsiuzdak/snac_24khz/resolve/main"
    server.served.files[f"{base}/config.json"] = config
    server.served.headers[f"{base}/config.json"] = {"X-Repo-Commit": COMMIT,
                                                    "ETag": f'"{hashlib.sha1(config).hexdigest()}"'}
    server.served.redirects[f"{base}/pytorch_model.bin"] = (f"/cdn/{digest}", {"X-Repo-Commit": COMMIT,
                                                                              "X-Linked-Etag": f'"{digest}"'})
    server.served.files[f"/cdn/{digest}"] = weights
    assert run("get", "snac-24khz") == 0
    kept = Path(capsys.readouterr().out.strip())
    snapshot = Path(os.environ["HF_HOME"]) / "hub" / "models--hubertsiuzdak--snac_24khz" / "snapshots" / COMMIT
    assert kept == snapshot / "pytorch_model.bin" and (snapshot / "config.json").read_bytes() == config
    ref = np.load(FIXTURES / "snac" / "snac24k_expected.npz", allow_pickle=False)
    codec = load_codec(kept)
    codes = codec.encode(torch.from_numpy(ref["input"]))
    for k, stride in enumerate(codec.codebook_strides):  # the release also codes its end padding: a code more
        ours = codes[:, k, ::stride]
        assert torch.equal(ours, torch.from_numpy(ref[f"codes_{k}"][:, : ours.shape[1]]).long())


def test_a_hugging_face_etag_that_is_not_the_contents_sha256_is_refused(server, capsys):
    server.served.files[MIMI_PATH] = (FIXTURES / "mimi" / "mimi.safetensors").read_bytes()
    server.served.headers[MIMI_PATH] = {"X-Repo-Commit": COMMIT, "X-Linked-Etag": f'"{"0" * 64}"'}
    assert run("get", "mimi") == 2
    assert "checksum mismatch" in one_error_line(capsys)
    assert not hf_repo_folder("kyutai/moshiko-pytorch-bf16").joinpath("snapshots").exists()


def test_a_file_that_fails_the_strict_load_is_refused(server, capsys):
    state = torch.load(FIXTURES / "dac" / "dac44k.pth", weights_only=True)
    state["state_dict"].pop(next(iter(state["state_dict"])))  # one weight missing
    wrong = dac_folder().parent / "wrong.pth"
    wrong.parent.mkdir(parents=True)
    torch.save(state, wrong)
    server.served.files[DAC_PATH] = wrong.read_bytes()
    assert run("get", "dac-44khz-8kbps") == 2
    assert "does not load as a dac model" in one_error_line(capsys)
    assert list(dac_folder().iterdir()) == []


@pytest.fixture
def full_disk(server, tmp_path, monkeypatch):
    """The DAC cache folder on a 256 KiB tmpfs (a real ENOSPC; needs the right to mount); where
    mounting is not allowed, the download's one write function fails the same way past 256 KiB."""
    folder = dac_folder()
    folder.mkdir(parents=True)
    mounted = (shutil.which("mount") is not None and os.geteuid() == 0 and not subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True).returncode)
    if not mounted:
        written = {"bytes": 0}

        def write_until_full(stream, chunk):
            if written["bytes"] + len(chunk) > 256 * 1024:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written["bytes"] += len(chunk)
            stream.write(chunk)
        monkeypatch.setattr(transfer, "write_chunk", write_until_full)
    yield folder
    if mounted:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_one_line_and_keeps_the_part_for_resuming(server, full_disk, capsys):
    server.served.files[DAC_PATH] = (FIXTURES / "dac" / "dac44k.pth").read_bytes()
    assert run("get", "dac-44khz-8kbps") == 2
    assert "no space left on the disk" in one_error_line(capsys)
    assert [p.name for p in full_disk.iterdir()] == ["weights_44khz_8kbps_0.0.1.pth.part"]


def test_offline_proxy_and_http_errors_are_one_line(server, capsys, monkeypatch):
    assert run("get", "dac-16khz") == 2  # the server has no such file
    assert "HTTP 404" in one_error_line(capsys)
    closed = ModelServer()
    closed.stop()  # nothing listens on its port any more
    monkeypatch.setenv("RVQ_STUDIO_MODEL_MIRROR", closed.url)
    assert run("get", "dac-16khz") == 2
    assert "cannot reach 127.0.0.1" in one_error_line(capsys)
    monkeypatch.setenv("RVQ_STUDIO_MODEL_MIRROR", server.url)
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("http_proxy", closed.url)  # a proxy from the environment that does not answer
    assert run("get", "dac-16khz") == 2
    assert f"(through the proxy {closed.url})" in one_error_line(capsys)
    assert not (dac_folder() / "weights_16khz_8kbps_0.0.5.pth").exists()


def test_a_family_this_version_lacks_is_listed_but_never_fetched(server, capsys, monkeypatch):
    without_family(monkeypatch, "snac")
    assert run("get", "snac-24khz") == 2
    assert "not supported by this version" in one_error_line(capsys)
    assert server.served.requests == []


def test_the_mirror_comes_from_the_settings_file_without_the_environment_variable(server, monkeypatch):
    from app.studio.settings import StudioSettings

    monkeypatch.delenv("RVQ_STUDIO_MODEL_MIRROR")
    StudioSettings().set_model_mirror(server.url)
    server.served.files[DAC_PATH] = (FIXTURES / "dac" / "dac44k.pth").read_bytes()
    assert run("get", "dac-44khz-8kbps") == 0
    assert server.served.requests == [(DAC_PATH, None)]
    assert remove_model(find_entry("dac-44khz-8kbps")) == [dac_folder() / "weights_44khz_8kbps_0.0.1.pth"]

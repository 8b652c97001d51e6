"""A loaded codec holds one copy of its weights, and what it dropped is still there when asked for:
the state dict, the file's own parametrisation for fine-tuning, its digest, trainability."""
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from app.runtime.freed_memory import return_freed_memory
from model import load_codec
from model.codec import weights_digest
from model.export import save_model_file
from model.fast_mode import FastModeUnavailable
from model.inference_memory import storage_bytes
from model.layers import polyphase_groups, polyphase_inverse
from model.loading import _read_tensors, load_network
from model.registry import FAMILIES
from model import tiled
from tests.support.resident_size import FIXED_MMAP_THRESHOLD, STATUS, status_bytes
from tests.support.tiny_codecs import tiny_network, tiny_recipe

MIB = 1 << 20

FIXTURES = Path(__file__).parent.parent / "fixtures"
OFFICIAL = [FIXTURES / "dac" / "dac16k.pth", FIXTURES / "encodec" / "encodec24k.th",
            FIXTURES / "encodec" / "encodec48k.th", FIXTURES / "mimi" / "mimi.safetensors",
            FIXTURES / "snac" / "snac24k"]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model_file(request, tmp_path_factory) -> Path:
    """A tiny network of each family, saved as our model file."""
    path = tmp_path_factory.mktemp(request.param) / "tiny.safetensors"
    save_model_file(tiny_network(request.param), path, family=request.param,
                    config=tiny_recipe(request.param).architecture, name="tiny")
    return path


def _signal(codec, seconds: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return 0.2 * torch.randn(1, codec.channels, int(seconds * codec.sample_rate), generator=g)


@pytest.mark.parametrize("path", [*OFFICIAL], ids=lambda p: p.name)
def test_an_official_release_is_held_once(path):
    """Folded, channels-last and polyphase weights replace the parametrisation, and an EMA codebook
    keeps no running sums: no second copy, nothing inference does not read."""
    network = load_network(path)[2]
    codec = load_codec(path)
    assert storage_bytes(codec.network) <= 1.05 * (storage_bytes(network) - _training_only_bytes(network))
    assert _training_only_bytes(codec.network) == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not STATUS.exists(),
                    reason="glibc's malloc_trim, resident size from /proc")
def test_a_weight_dropped_after_loading_a_safetensors_file_gives_its_memory_back(tmp_path):
    """Each tensor read from a file has a storage of its own: dropping one frees it, where views of
    one buffer holding the whole file kept every byte while any weight was alive."""
    path = tmp_path / "weights.safetensors"
    save_file({"large": torch.ones(16 * MIB), "small": torch.ones(4)}, str(path))
    state = _read_tensors(path)
    assert torch.equal(state["large"], torch.ones(16 * MIB)) and torch.equal(state["small"], torch.ones(4))
    return_freed_memory()
    before = status_bytes()
    del state["large"]
    return_freed_memory()
    assert before - status_bytes() >= 48 * MIB


TRAINING_ONLY = ("embed_avg",)  # an EMA codebook's running sums: inference reads the codebook itself


def _training_only_bytes(network: torch.nn.Module) -> int:
    return sum(t.untyped_storage().nbytes() for name, t in network.named_buffers()
               if name.rsplit(".", 1)[-1] in TRAINING_ONLY)


def test_a_tiny_codec_of_every_family_is_held_once_with_the_digest_of_the_file(model_file):
    codec, trained = load_codec(model_file), load_network(model_file)[2]
    assert storage_bytes(codec.network) <= 1.05 * (storage_bytes(trained) - _training_only_bytes(trained))
    assert _training_only_bytes(codec.network) == 0
    assert codec.digest() == weights_digest(trained)
    assert codec.n_parameters() == sum(p.numel() for p in trained.parameters())


def test_fine_tuning_gets_the_file_parametrisation_and_it_trains(model_file):
    key, _, network, _ = load_network(model_file)
    with safe_open(model_file, "pt") as saved:  # exactly the file's tensors
        assert set(network.state_dict()) == set(saved.keys())
        assert all(torch.equal(value, saved.get_tensor(k)) for k, value in network.state_dict().items())
    convs = {name: p.detach().clone() for name, p in network.named_parameters() if name.endswith("weight_v")}
    assert convs and all(p.requires_grad for p in network.parameters())
    x = 0.2 * torch.randn(1, getattr(network, "channels", 1), 16 * network.hop_length)
    if getattr(network, "side_info", ()):  # trained in its mono form only: the encoder alone here
        loss = network.encoder_stack()(x).pow(2).mean()
    else:
        recon, q = network(x)
        loss = (recon - x).abs().mean() + q.commitment_loss.mean()
    loss.backward()
    with torch.no_grad():  # a plain gradient step (torch.optim's first step imports the compiler: seconds)
        for p in network.parameters():
            if p.grad is not None:
                p -= 1e-2 * p.grad
    params = dict(network.named_parameters())
    assert any(not torch.equal(params[name], before) for name, before in convs.items())


def test_the_state_dict_of_a_loaded_codec_round_trips(model_file):
    """The released parametrisation is rebuilt for the state dict and taken back by load_state_dict."""
    codec = load_codec(model_file)
    x = _signal(codec)
    encoded = codec.encode_audio(x)
    decoded = codec.decode(encoded)
    held = storage_bytes(codec.network)
    state = codec.network.state_dict()
    assert state.keys() == load_network(model_file)[2].state_dict().keys()
    codec.network.load_state_dict(state)
    assert storage_bytes(codec.network) == held
    assert torch.equal(codec.encode_audio(x).codes, encoded.codes)
    assert torch.equal(codec.decode(encoded), decoded)


@pytest.mark.parametrize("kernel,stride,padding", [(16, 8, 4), (8, 4, 2), (4, 2, 1), (7, 3, 2), (10, 5, 0),
                                                   (3, 1, 1), (12, 4, 0)])
def test_polyphase_groups_give_back_the_transposed_weight_exactly(kernel, stride, padding):
    weight = torch.randn(5, 3, kernel)
    groups = polyphase_groups(weight, None, stride, padding)
    rebuilt = polyphase_inverse([g.weight for g in groups], 5, 3, kernel, stride, padding)
    assert torch.equal(rebuilt, weight)


def test_fast_mode_holds_its_stacks_once_in_bfloat16(model_file):
    codec = load_codec(model_file)
    try:
        codec.set_fast_mode(True)
    except FastModeUnavailable:
        pytest.skip(f"{codec.family}: no fast mode")
    fast, exact = codec.inference_network(), codec.network
    for stack in ("encoder_stack", "decoder_stack"):
        assert storage_bytes(getattr(fast, stack)()) <= 0.5 * 1.05 * storage_bytes(getattr(exact, stack)())


@pytest.mark.parametrize("key", ["dac", "hificodec", "soundstream"])  # decoders run as one stack of stages
def test_a_decoders_working_activations_do_not_grow_with_the_chunk(key, tmp_path, monkeypatch):
    """The high-rate tail of a decoder runs on tiles of its own: no layer of it produces more for a
    chunk four times longer, and none produces the whole chunk's activation (tiny tiles here, so
    that a tiny network has a tail to cut)."""
    monkeypatch.setattr(tiled, "TAIL_ELEMENTS", 1 << 13)
    monkeypatch.setattr(tiled, "MAX_HALO_SHARE", 1 / 2)
    path = tmp_path / "tiny.safetensors"
    save_model_file(tiny_network(key), path, family=key, config=tiny_recipe(key).architecture, name="tiny")
    network = load_codec(path).network
    stack = network.decoder_stack()
    tail = tiled._tail_of(stack, network.quantizer.decode(torch.zeros(1, network.n_codebooks, 1).long()).shape[1])
    assert tail is not None and tail.start < len(stack)
    largest = []
    for frames in (400, 1600):
        sizes: list[int] = []
        hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel()))
                 for stage in list(stack)[tail.start:] for m in stage.modules() if not list(m.children())]
        codes = torch.randint(0, network.codebook_size, (1, network.n_codebooks, frames),
                              generator=torch.Generator().manual_seed(frames))
        with torch.no_grad():
            audio = network.decode_codes(codes)
        for hook in hooks:
            hook.remove()
        largest.append(max(sizes))
        whole = audio.numel() // tail.geometry[0] * tail.width  # the tail's widest activation, whole
        assert max(sizes) < whole / 2
    assert largest[0] == largest[1]


# A DAC decoder of real rates, narrowed (seconds to run), decoding a chunk of 15 s and one of
# 45 s; prints the peaks over resident before each and one whole-chunk activation of the tail's
# widest stage for 30 s, in bytes.
DECODER_PEAKS = """
import json, torch
from model import tiled
from model.dac import DAC, DacConfig
from model.inference_memory import prepare_for_inference
from tests.support.resident_size import reset_peak, status_bytes

torch.manual_seed(0)
network = DAC(DacConfig(encoder_dim=8, latent_dim=64, decoder_dim=256, n_codebooks=2, codebook_size=64)).eval()
prepare_for_inference(network)
tail = tiled._tail_of(network.decoder_stack(), 64)
peaks = {}
with torch.inference_mode():
    network.decode_codes(torch.zeros(1, 2, 32, dtype=torch.long))
    for seconds in (15, 45):
        codes = torch.randint(0, 64, (1, 2, seconds * 44100 // network.hop_length))
        before = status_bytes()
        reset_peak()
        network.decode_codes(codes)
        peaks[seconds] = status_bytes("VmHWM") - before
print(json.dumps({"peaks": peaks, "activation": 30 * 44100 // tail.geometry[0] * tail.width * 4}))
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not STATUS.exists(),
                    reason="glibc's mmap threshold, resident size from /proc")
def test_a_decoders_peak_memory_does_not_grow_with_the_chunk():
    """A chunk three times longer decodes for about the same peak: between the two, less than half
    of one whole-chunk activation of the tail's widest stage (without tail tiles the peak grows by
    several of them). Measured in a fresh process with glibc's mmap threshold fixed, so the peak is
    the buffers alive at once: in the test process, or with the threshold adjusting itself, the
    heap's history moved it by 50-80 MiB."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", DECODER_PEAKS], cwd=root, capture_output=True, text=True,
                            env={**FIXED_MMAP_THRESHOLD, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    peaks = {int(seconds): peak for seconds, peak in measured["peaks"].items()}
    assert peaks[15] > 0 and peaks[45] - peaks[15] < measured["activation"] / 2, (peaks, measured["activation"])

"""A codec as two ONNX graphs and a JSON sidecar, runnable without RVQ Studio or PyTorch.

``encoder.onnx`` maps float32 audio ``[batch, 1, samples]`` at the model's rate to int64 codes
``[batch, N, frames]`` (``frames = ceil(samples / hop)``), as :meth:`Codec.encode` does;
``decoder.onnx`` maps int64 codes ``[batch, n, frames]``, any ``n`` from 1 to ``N``, to float32
audio ``[batch, 1, frames * hop]``, as :meth:`Codec.decode` does. Batch, length and ``n`` are
dynamic axes of one graph each. The decoder looks up all ``N`` codebooks (the codes padded
with zeros) and adds the contribution of codebook ``i`` times ``i < n``: a sum in the same
order as the codec's, where the codebooks past ``n`` add exact zeros, so one graph decodes
every ``n``.

The graphs are recorded by ``torch.onnx.export`` (the ``torch.export`` based exporter) from
the networks' plain whole-signal formulation (:meth:`plain_latents`, :meth:`plain_audio`),
in float32 with weight normalisation folded into the convolutions, Snake as plain
operators and the codeword search in float64 (see :mod:`model.graph_capture`): the codes
equal the codec's and the audio agrees to float rounding (tests/model/test_onnx_export.py).
Recurrent networks (EnCodec's LSTMs) become ONNX recurrences.

The folder is written atomically: the files are made in a temporary folder (beside it, or in
it when it exists), then the folder is renamed into place, or the files moved into it one by
one, the sidecar last.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.export import Dim

from model.atomic_file import current_umask
from model.codec import Codec

OPSET = 23  # the newest opset that both the exporter and onnxruntime implement completely
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
SIDECAR_FILE = "codec.json"
SIDECAR_FORMAT = "rvq-studio-onnx/1"
EXPORT_PACKAGES = ("onnx", "onnxscript")
INSTALL_HINT = "pip install 'rvq-studio[onnx]'"
EXAMPLE_FRAMES = 24  # length of the example inputs the exporter records the graphs with
MAX_FRAMES = 1 << 24
SHORTEST_REFLECTED_FRAMES = 16  # enough for the reflection padding of every family's frame-rate layers


class OnnxUnavailable(RuntimeError):
    """The packages the exporter needs are not installed."""


def require_exporter() -> None:
    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise OnnxUnavailable(f"ONNX export needs the package{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)}: {INSTALL_HINT}")


class OnnxEncoder(nn.Module):
    """Audio ``[B, 1, T]`` -> codes ``[B, N, ceil(T / hop)]``.

    A network with bounded context gets its input zero-padded to the hop, as the chunked
    engine pads the end of a signal; one without (recurrent) pads its own layers.
    """

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.network = codec.network
        self.hop = codec.hop_length
        self.pad_to_hop = codec.encoder_context is not None

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.pad_to_hop:
            audio = F.pad(audio, (0, -audio.shape[-1] % self.hop))
        return self.network.quantizer(self.network.plain_latents(audio)).codes


class OnnxDecoder(nn.Module):
    """Codes ``[B, n, F]``, ``1 <= n <= N`` -> audio, one graph for every ``n`` (see the module
    docstring)."""

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.network = codec.network
        self.stages = codec.network.quantizer.quantizers
        self.register_buffer("order", torch.arange(len(self.stages)), persistent=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        n = codes.shape[1]
        codes = F.pad(codes, (0, 0, 0, len(self.stages) - n))
        kept = self.order < n
        latents = self.stages[0].decode_indices(codes[:, 0])
        for i in range(1, len(self.stages)):
            latents = latents + self.stages[i].decode_indices(codes[:, i]) * kept[i]
        return self.network.plain_audio(latents)


def sidecar(codec: Codec) -> dict:
    """What a runtime needs to feed the graphs and read their results, and which model they are."""
    enc, dec = codec.encoder_context, codec.decoder_context
    shortest = SHORTEST_REFLECTED_FRAMES if _pads_by_reflection(codec.network) else 1
    bounded = enc is not None and dec is not None
    return {
        "format": SIDECAR_FORMAT,
        "model": codec.name,
        "family": codec.family,
        "digest": codec.digest(),
        "sample_rate": codec.sample_rate,
        "channels": 1,
        "hop_length": codec.hop_length,
        "frame_rate": codec.frame_rate,
        "n_codebooks": codec.n_codebooks,
        "codebook_size": codec.codebook_size,
        "codebook_strides": [1] * codec.n_codebooks,
        "kbps_per_codebook": codec.kbps(1),
        "codebook_groups": codec.codebook_groups,
        # Frames of context a chunk needs on each side to equal the whole computation; null:
        # unbounded (recurrent layers), the graphs then take whole signals.
        "context_frames": {"encoder": enc, "decoder": dec},
        # The delay of chunked use: a frame plus the look-ahead of both context margins.
        "latency_seconds": (1 + enc + dec) * codec.hop_length / codec.sample_rate if bounded else None,
        "encoder": {"file": ENCODER_FILE, "input": "audio", "output": "codes",
                    "input_shape": ["batch", 1, "samples"], "input_type": "float32",
                    "min_samples": (shortest - 1) * codec.hop_length + 1,  # makes `shortest` frames
                    "output_shape": ["batch", codec.n_codebooks, "ceil(samples / hop_length)"],
                    "output_type": "int64"},
        "decoder": {"file": DECODER_FILE, "input": "codes", "output": "audio",
                    "input_shape": ["batch", f"n in 1..{codec.n_codebooks}", "frames"], "input_type": "int64",
                    "min_frames": shortest,
                    "output_shape": ["batch", 1, "frames * hop_length"], "output_type": "float32"},
        "opset": OPSET,
    }


def export_onnx(codec: Codec, folder: str | Path) -> dict:
    """Write ``encoder.onnx``, ``decoder.onnx`` and ``codec.json`` into ``folder``; returns what
    ``codec.json`` holds.

    ``folder`` is created if missing (its parent must exist); files of an earlier export in it
    are replaced.
    """
    require_exporter()
    if codec.device.type != "cpu":
        raise ValueError("ONNX export runs on the CPU: load the model with device 'cpu'")
    for part in ("quantizer", "plain_latents", "plain_audio"):
        if not hasattr(codec.network, part):
            raise ValueError(f"the {codec.family} family cannot be exported to ONNX yet")
    if codec.chunk_alignment is not None or any(stride > 1 for stride in codec.codebook_strides):
        # windows and noise keyed to absolute positions, codes at several rates: not in the graphs yet
        raise ValueError(f"the {codec.family} family cannot be exported to ONNX yet "
                         "(windows aligned to absolute positions, codes at several rates)")
    target = Path(folder).expanduser()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{folder}: the folder it would be made in does not exist")
    hop, frames, n = codec.hop_length, EXAMPLE_FRAMES, codec.n_codebooks
    details = sidecar(codec)
    shortest = details["decoder"]["min_frames"]
    batch = Dim("batch", min=1, max=1024)
    samples = Dim("samples", min=details["encoder"]["min_samples"], max=MAX_FRAMES * hop)
    with _temporary_folder(target if target.exists() else parent, target.name) as temp:
        _write_onnx(OnnxEncoder(codec), torch.randn(2, 1, frames * hop) * 0.1, "audio", {0: batch, 2: samples},
                    "codes", ["batch", n, "frames"], temp / ENCODER_FILE)
        _write_onnx(OnnxDecoder(codec), torch.randint(0, codec.codebook_size, (2, n, frames)), "codes",
                    {0: batch, 1: Dim("n", min=1, max=n), 2: Dim("frames", min=shortest, max=MAX_FRAMES)},
                    "audio", ["batch", 1, "samples"], temp / DECODER_FILE)
        (temp / SIDECAR_FILE).write_text(json.dumps(details, indent=2) + "\n")
        _move_into(temp, target)
    return details


def _pads_by_reflection(network: nn.Module) -> bool:
    """Whether some layer pads by reflection (EnCodec's), which extends an input shorter than
    its padding with zeros first: a step the graph holds only for the lengths it was recorded
    with, so such graphs take inputs of :data:`SHORTEST_REFLECTED_FRAMES` frames and more."""
    return any(getattr(m, "pad_mode", None) == "reflect" for m in network.modules())


def _write_onnx(module: nn.Module, example: torch.Tensor, input_name: str, input_axes: dict, output_name: str,
                output_axes: list[str | int], path: Path) -> None:
    """Record ``module`` as ONNX at ``path``.

    The exporter's own optimisation is skipped and its recorded shapes are dropped before
    optimising: it records the LSTM's output with the example's length, and folding that
    shape would fix the graph to it. ONNX's shape inference derives them again, symbolically.
    """
    import onnx
    import onnxscript

    with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(module.eval(), (example,), input_names=[input_name], output_names=[output_name],
                                    dynamic_shapes={input_name: input_axes}, opset_version=OPSET, dynamo=True,
                                    custom_translation_table={torch.ops.rvq_studio.lstm.default: _onnx_lstm},
                                    optimize=False, verbose=False)
    proto = program.model_proto
    del proto.graph.value_info[:]
    shape = proto.graph.output[0].type.tensor_type.shape
    shape.ClearField("dim")
    for axis in output_axes:
        dim = shape.dim.add()
        if isinstance(axis, int):
            dim.dim_value = axis
        else:
            dim.dim_param = axis
    onnx.save(onnxscript.optimizer.optimize(proto), path)


def _onnx_lstm(steps, w_ih, w_hh, b_ih, b_hh):
    """:func:`model.graph_capture.opaque_lstm` as ONNX LSTM operators, one per layer (gates
    reordered from PyTorch's i, f, g, o to ONNX's i, o, f, g)."""
    from onnxscript import opset23 as op

    layers, hidden = w_ih.shape[0], w_ih.shape[2]

    def onnx_gates(t):
        i, f, g, o = (op.Slice(t, [k * hidden], [(k + 1) * hidden], axes=[1]) for k in range(4))
        return op.Concat(i, o, f, g, axis=1)

    w_ih, w_hh, b_ih, b_hh = (onnx_gates(t) for t in (w_ih, w_hh, b_ih, b_hh))
    for k in range(layers):
        def layer(t):
            return op.Slice(t, [k], [k + 1], axes=[0])

        y, _, _ = op.LSTM(steps, layer(w_ih), layer(w_hh), op.Concat(layer(b_ih), layer(b_hh), axis=1),
                          hidden_size=hidden)
        steps = op.Squeeze(y, [1])
    return steps


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's chatter kept off the terminal: warnings about optional packages
    (torchvision) no codec uses, deprecation notices, and printouts of the recorded graph.
    A failure still raises, with its own message."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


@contextmanager
def _temporary_folder(parent: Path, name: str) -> Iterator[Path]:
    temp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=parent))
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _move_into(temp: Path, target: Path) -> None:
    """The whole folder renamed into place when ``target`` does not exist; else each file, the
    sidecar last (it names the export that is complete)."""
    os.chmod(temp, 0o777 & ~current_umask())
    if not target.exists():
        os.replace(temp, target)
        return
    for name in (ENCODER_FILE, DECODER_FILE, SIDECAR_FILE):
        os.replace(temp / name, target / name)

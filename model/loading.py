"""``load_codec``: one entry point for every kind of model file.

The kind is recognised from the file's contents, never its name: our own safetensors files
carry their family and configuration in the header; PyTorch files (official releases) are
opened with ``weights_only=True`` -- so a file that would execute code when unpickled is
refused, not run -- and offered to each family's parser, as are safetensors files without
our header (official releases published as safetensors). Weights are matched strictly: a
missing, unexpected or misshapen tensor is an error that names the keys, never a model that
silently runs with random weights.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open
from torch import nn

from model.codec import Codec
from model.family_config import ConfiguredWeights
from model.bundled_files import DEFAULT_MODEL_PATH
from model.registry import DEFAULT_PRESET, FAMILIES, Family, StateDict, family, preset

FORMAT_TAG = "rvq-studio"
TRAINING_CHECKPOINT_TAG = "rvq-studio-training-checkpoint"  # model.training.checkpoint's files
HUB_WEIGHTS, HUB_CONFIG = "pytorch_model.bin", "config.json"  # a Hugging Face model folder


class CheckpointError(ValueError):
    """A model file that cannot be used, with a message meant for people."""


@dataclass
class _Loaded:
    """A model file's network (its weights as the file holds them) and what a codec says of it."""

    family: str
    config: dict
    network: nn.Module
    name: str
    trained: bool
    source: str


def load_codec(source: str | Path, device: str | torch.device = "cpu") -> Codec:
    """Load a codec from a model file, or ``"default"`` for the bundled model."""
    loaded = _load(source)
    return Codec(loaded.network, name=loaded.name, family=loaded.family, config=loaded.config, device=device,
                 trained=loaded.trained, source=loaded.source)


def load_network(source: str | Path) -> tuple[str, dict, nn.Module, str]:
    """``(family, config, network, name)`` with trainable weights, for fine-tuning.

    Accepts everything :func:`load_codec` accepts; the network is in training layout (the
    file's own parametrisation, gradients enabled), built without a codec's inference weights.
    """
    loaded = _load(source)
    for p in loaded.network.parameters():
        p.requires_grad_(True)
    name = loaded.name if loaded.trained else f"{loaded.name} (untrained)"  # as a codec names it
    return loaded.family, loaded.config, loaded.network.train(), name


def _load(source: str | Path) -> _Loaded:
    if str(source) == "default":
        if DEFAULT_MODEL_PATH.is_file():
            return _load_path(DEFAULT_MODEL_PATH, name="default")
        torch.manual_seed(0)
        recipe = preset(DEFAULT_PRESET)
        return _Loaded(recipe.family, recipe.architecture, family(recipe.family).build(recipe.architecture),
                       "default", False, "default")
    return _load_path(Path(source).expanduser())


def _load_path(path: Path, name: str | None = None) -> _Loaded:
    if not path.exists():
        raise CheckpointError(f"model file not found: {path}")
    if path.is_dir():
        name = name or _folder_model_name(path)
        path = _weights_in_folder(path)
    if not path.is_file():
        raise CheckpointError(f"not a file: {path}")
    if _is_safetensors(path):
        family_key, config, state, meta = _read_own(path)
        trained = meta.get("trained", "true") != "false"
        display = name or _shown_name(path, meta.get("name"))
    else:
        family_key, config, state = _read_torch(path)
        # a model folder's weights are named after the folder (its repository), not "pytorch_model"
        trained, display = True, name or (_folder_model_name(path.parent) if path.name == HUB_WEIGHTS else path.stem)
    network = _build(family(family_key), config, state, path.name)
    return _Loaded(family_key, config, network, display, trained, str(path))


def _weights_in_folder(folder: Path) -> Path:
    """The weights of a Hugging Face style model folder (``config.json`` + ``pytorch_model.bin``)."""
    weights = folder / HUB_WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder.name}: a folder without {HUB_WEIGHTS} (give the model file itself)")
    return weights


def _folder_model_name(folder: Path) -> str:
    """A model folder's name; in the Hugging Face cache (``models--owner--repo/snapshots/<commit>``)
    the repository's."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name.split("--")[-1]
    return folder.name


def _sidecar_config(path: Path) -> dict | None:
    """The ``config.json`` beside a PyTorch file, which holds the configuration of some releases."""
    sidecar = path.parent / HUB_CONFIG
    if not sidecar.is_file():
        return None
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{sidecar.name} beside {path.name}: unreadable ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{sidecar.name} beside {path.name}: not a JSON object")
    return config


def _shown_name(path: Path, claimed: str | None) -> str:
    """The name a model file's header gives it; its file name where the header names none, or
    claims "default" without being the bundled file (that name says which model made a .rvq file
    and what the status bar shows: it must not be taken by another model)."""
    if not claimed or claimed == "default" and not _is_bundled(path):
        return path.stem
    return claimed


def _is_bundled(path: Path) -> bool:
    try:
        return DEFAULT_MODEL_PATH.is_file() and path.samefile(DEFAULT_MODEL_PATH)
    except OSError:
        return False


def _build(fam: Family, config: dict, state: StateDict, label: str) -> nn.Module:
    """``fam``'s network for ``config`` holding the tensors of ``state``, which it empties.

    The architecture is built on the meta device (shapes, no memory) and held against the
    file's weights: settings that would make a network far larger than the file -- a width of a
    billion channels -- are refused before anything is allocated. The network then takes the
    file's tensors themselves: no randomly initialised copy is drawn only to be overwritten, and
    once ``state`` is emptied the network holds the only reference to its weights.
    """
    try:
        with torch.device("meta"):
            skeleton = fam.build(config)
    except (TypeError, ValueError, ArithmeticError, RuntimeError) as exc:  # RuntimeError: sizes beyond any memory
        raise CheckpointError(f"{label}: invalid {fam.title} configuration: {str(exc).splitlines()[0]}") from None
    check_weights(skeleton, state, label)
    _assign_weights(skeleton, state)
    unset = [name for name, t in (*skeleton.named_parameters(), *skeleton.named_buffers()) if t.is_meta]
    if unset:  # a family's own mistake, caught by the registry-driven tests
        raise RuntimeError(f"{fam.title} networks hold tensors their files do not ({_few(unset)}): build them "
                           "on the CPU explicitly, as model/local_attention.py does")
    return skeleton


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _read_own(path: Path) -> tuple[str, dict, StateDict, dict]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = _read_tensors(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: unreadable safetensors file ({exc})") from None
    if meta.get("format") == TRAINING_CHECKPOINT_TAG:
        raise CheckpointError(f"{path.name}: a training checkpoint, not a model: open the run's model.safetensors, "
                              "or resume the run from its folder")
    if meta.get("format") != FORMAT_TAG:
        key, config, state = _parse_official(path, state, "a safetensors file, but not an RVQ Studio model "
                                                               "(no format tag) nor an official release it knows")
        return key, config, state, {}
    try:
        config = json.loads(meta["config"])
        key = meta["family"]
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path.name}: model file header lacks a valid family/config") from None
    return key, config, {k: v.float() for k, v in state.items()}, meta


def _read_tensors(path: Path, window: int = 64 * 2**20) -> StateDict:
    """A safetensors file's tensors, each in a storage of its own.

    ``load_file`` hands out views of one buffer holding the whole file, which stays alive as long
    as any of them does: a codec that drops the weights it does not read (model/inference_memory.py)
    would still hold them all. Each tensor is copied out of the file's mapping instead, and the
    mapping is closed every ``window`` bytes, so loading holds at most that much beyond the copies.
    """
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    state: StateDict = {}
    while len(state) < len(keys):
        with safe_open(str(path), framework="pt") as f:
            mapped = 0
            for key in keys[len(state):]:
                tensor = f.get_tensor(key)
                state[key] = tensor.clone()
                mapped += tensor.numel() * tensor.element_size()
                if mapped >= window:
                    break
    return state


def _read_torch(path: Path) -> tuple[str, dict, StateDict]:
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path.name}: not a model file (neither safetensors nor a PyTorch checkpoint)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path.name}: refused: the file contains Python objects beyond plain weights "
            "(loading it could run code)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path.name}: damaged PyTorch checkpoint ({str(exc).splitlines()[0]})") from None
    return _parse_official(path, obj, "a PyTorch file, but not a codec checkpoint this program knows")


def _parse_official(path: Path, obj: object, unknown: str) -> tuple[str, dict, StateDict]:
    """The family whose official layout ``obj`` (a PyTorch file's object, or a safetensors file's
    tensors without our header) is, with its configuration and weights under our names; a
    ``config.json`` beside the file (a release folder's) is offered first with the weights."""
    sidecar = _sidecar_config(path)
    candidates = ([ConfiguredWeights(sidecar, obj)] if sidecar is not None else []) + [obj]
    for candidate in candidates:  # with the sidecar configuration first, then the file alone
        for fam in FAMILIES.values():
            try:
                parsed = fam.parse_official(candidate)
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"{path.name}: {fam.title} checkpoint with invalid settings: {exc}") from None
            if parsed is not None:
                config, state = parsed
                return fam.key, config, state
    raise CheckpointError(f"{path.name}: {unknown}")


def normalise_weight_norm_keys(state: StateDict) -> StateDict:
    """Map new-style ``parametrizations.weight.original0/1`` keys to ``weight_g``/``weight_v``."""
    out = {}
    for key, value in state.items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        out[key] = value
    return out


def load_weights_strict(network: nn.Module, state: StateDict, label: str) -> None:
    """Copy ``state`` into ``network``; any key or shape mismatch is a :class:`CheckpointError`."""
    check_weights(network, state, label)
    expected = network.state_dict()
    network.load_state_dict({k: v.to(expected[k].dtype) for k, v in normalise_weight_norm_keys(state).items()},
                            strict=True)


def _assign_weights(network: nn.Module, state: StateDict) -> None:
    """``state``'s tensors become ``network``'s (keys and shapes matched by :func:`check_weights`), then
    ``state`` is emptied. A tensor the file gives under two names is copied for the second: weights
    trained apart must not share memory."""
    expected = network.state_dict()
    owned, seen = {}, set()
    for key, value in normalise_weight_norm_keys(state).items():
        value = value.to(expected[key].dtype)
        if value.data_ptr() in seen:
            value = value.clone()
        seen.add(value.data_ptr())
        owned[key] = value
    state.clear()
    network.load_state_dict(owned, strict=True, assign=True)


def check_weights(network: nn.Module, state: StateDict, label: str) -> None:
    """Raise a :class:`CheckpointError` naming every key or shape of ``state`` that ``network`` lacks,
    or weights that are not finite."""
    state = normalise_weight_norm_keys(state)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} weights ({_few(missing)})")
    if extra:
        problems.append(f"{len(extra)} unexpected weights ({_few(extra)})")
    shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if shapes:
        k = shapes[0]
        problems.append(f"{len(shapes)} weights of the wrong shape (e.g. {k}: file {tuple(state[k].shape)}, "
                        f"model {tuple(expected[k].shape)})")
    if problems:
        raise CheckpointError(f"{label}: weights do not match the architecture: " + "; ".join(problems))
    non_finite = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if non_finite:  # such a model decodes every file to NaN or full-scale noise
        raise CheckpointError(f"{label}: {len(non_finite)} weights hold NaN or infinite values ({_few(non_finite)})")


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f", ... (+{len(keys) - n} more)" if len(keys) > n else "")

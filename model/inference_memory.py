"""One copy of every weight in a network loaded for inference.

Inference reads each convolution's weight in a prepared form -- the weight normalisation
folded in, channels-last, a transposed convolution rewritten as polyphase groups (see
:mod:`model.layers`) -- which is a different tensor from the trained parametrisation
(``weight_g`` / ``weight_v``). Keeping both doubled the memory of every codec (three or four
copies before the prepared forms shared a storage). A codec (:class:`model.codec.Codec`)
therefore keeps the prepared form only and *releases* the parametrisation: the layer's
parameters are dropped, and rebuilt from the prepared weight whenever they are asked for:

* ``state_dict()`` holds them (in weight-norm form with ``g = |v|``: equal in function, and
  exactly the weight inference uses), so a loaded codec can still be saved and reloaded;
* ``load_state_dict`` takes them and prepares the layer again;
* ``unfold()`` (:func:`model.layers.unfold_weight_norm`) restores them as parameters.

The values a file holds (``v`` at its own scale) are not recoverable from the prepared weight,
so what needs them reads the file, not a codec: fine-tuning builds its network with
:func:`model.loading.load_network`, and a codec's weights digest is taken before it releases.

An EMA codebook (:mod:`model.ema_quantize`) releases the same way: inference reads the
normalised codebook ``embed`` only, so a codec drops its training sums ``embed_avg`` (as large
as the codebook itself) and rebuilds them from ``embed`` and the small per-code usage when
asked for. The usage (one number a code) is kept: the sums cannot be rebuilt without it.
"""
from __future__ import annotations

import torch
from torch import nn


class ReleasableParametrisation:
    """Mixed into a layer whose inference weight (``fold()``, ``folded_weight()``) stands for its
    parameters ``PARAMETERS``, which ``parametrisation(weight)`` rebuilds exactly in function.

    ``RELEASES_BUFFERS``: the released tensors are buffers (training statistics), not parameters.
    """

    PARAMETERS: tuple[str, ...] = ()
    RELEASES_BUFFERS = False
    _released = False
    _held_order: tuple[str, ...] = ()

    def parametrisation(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def folded_weight(self) -> torch.Tensor:
        """The folded effective weight in the parameters' plain layout (a fresh tensor)."""
        raise NotImplementedError

    def release_parametrisation(self) -> None:
        """Drop the parameters of a folded layer: its prepared weight is then the only copy."""
        if self._released:
            return
        self._held_order = tuple(self._held())
        for name in self.PARAMETERS:
            delattr(self, name)
        self._released = True

    def restore_parametrisation(self) -> None:
        """The parameters again, rebuilt from the prepared weight (not trainable, as a codec leaves them)."""
        if not self._released:
            return
        held = {**self._held(), **{name: value if self.RELEASES_BUFFERS else nn.Parameter(value, requires_grad=False)
                                   for name, value in self.parametrisation(self.folded_weight()).items()}}
        held = {name: held[name] for name in self._held_order}  # in the order the layer built them
        if self.RELEASES_BUFFERS:
            self._buffers = held
        else:
            self._parameters = held
        self._released = False

    def _held(self) -> dict:
        return self._buffers if self.RELEASES_BUFFERS else self._parameters  # type: ignore[attr-defined]

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)  # type: ignore[misc]
        if self._released:
            for name, value in self.parametrisation(self.folded_weight()).items():
                destination[prefix + name] = value

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        if not self._released:
            super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
            return
        self.restore_parametrisation()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
        self.fold()  # type: ignore[attr-defined]
        self.release_parametrisation()


def prepare_for_inference(network: nn.Module) -> None:
    """Fold every layer below ``network`` and release its parametrisation, layer by layer (so a
    network holding the only reference to its weights never holds two copies of them all)."""
    for module in network.modules():
        if isinstance(module, ReleasableParametrisation):
            module.fold()  # type: ignore[attr-defined]
            module.release_parametrisation()


def storage_bytes(module: nn.Module) -> int:
    """Bytes of the distinct storages behind ``module``'s parameters and buffers: what it holds
    (views of one storage count once)."""
    storages = {}
    for tensor in (*module.parameters(), *module.buffers()):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())

"""Linear layers whose inference on a CPU multiplies by prepacked oneDNN weights.

``F.linear`` hands a CPU matrix product to MKL, which reads the weight in its stored
``(out, in)`` layout at every call. Decoding calls each weight once per step with few rows
(32 to 160). Reordering each weight once into oneDNN's blocked layout (what ``torch.compile``'s
CPU backend does when it freezes weights) and multiplying by that copy took 17% off greedy
decoding and 6-12% off beam search in ``bench/decode.py`` on an AMD EPYC (``s2s fp32`` against
``s2s fp32 unpacked``, docs/design/decoding.md).

The packed copy is made on first use and remade when the weight changes (an unfused optimizer
step, ``load_state_dict`` or a dtype change: anything that bumps its version). Fused AdamW does
not bump it, so training drops the copies with ``forget_packed`` before each validation round
(without that, every round decoded with the first round's weights). Otherwise it is invisible:
training, checkpoints and ``state_dict`` see the ordinary ``nn.Linear`` parameters. It applies only where
it pays and gives ``F.linear``'s numbers: fp32 or bf16 (a model converted with ``--dtype bf16``,
whose unpacked weights oneDNN would otherwise reorder at every call), CPU, gradients off, no
autocast. ``prepacking(False)`` turns packing off (to compare, or to rule it out).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

from s2s.training.precision import cpu_has_fast_bf16

T = TypeVar("T")
PACK_ROWS_HINT = 32  # oneDNN picks the packed layout for this many input rows (the benchmark's batch)
_packed = WeakIdKeyDictionary()  # weight -> (its key when packed, the packed copy)
_fused = WeakIdKeyDictionary()  # first layer's weight -> (its parts' key when stacked, (weight, bias))
_lock = threading.Lock()
_state = {"enabled": True}


AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
# oneDNN's bf16 linear refuses CPUs without AVX-512 (where F.linear still runs bf16): pack bf16 only where it can
BF16_PACKS = AVAILABLE and cpu_has_fast_bf16()
PACKED_DTYPES = (torch.float32, torch.bfloat16) if BF16_PACKS else (torch.float32,)


@contextmanager
def prepacking(enabled: bool) -> Iterator[None]:
    """Turn packed inference on or off inside the block (process-wide; restored after)."""
    previous, _state["enabled"] = _state["enabled"], enabled
    try:
        yield
    finally:
        _state["enabled"] = previous


def prepacking_enabled() -> bool:
    return _state["enabled"]


def packable(weight: Tensor) -> bool:
    """Whether inference with ``weight`` would use a packed copy (packing on, a CPU weight of a packed dtype)."""
    return (
        _state["enabled"]
        and AVAILABLE
        and weight.device.type == "cpu"
        and weight.dtype in PACKED_DTYPES
        and not weight.is_inference()
    )


def packs(x: Tensor, weight: Tensor) -> bool:
    """Whether ``linear(x, weight)`` takes the packed path."""
    return (
        packable(weight)
        and not torch.is_grad_enabled()
        and x.device == weight.device
        and x.dtype == weight.dtype
        and not torch.is_autocast_enabled("cpu")
    )  # under autocast F.linear casts fp32 to bf16: leave it so


def derived_copy(store: WeakIdKeyDictionary, owner: Tensor, key: tuple, build: Callable[[], T]) -> T:
    """``build()``, kept in ``store`` for ``owner`` and rebuilt when ``key`` (what it was built from) changes."""
    with _lock:
        entry = store.get(owner)
    if entry is not None and entry[0] == key:
        return entry[1]
    value = build()
    with _lock:
        store[owner] = (key, value)
    return value


def packed_weight(weight: Tensor) -> Tensor:
    """``weight (out, in)`` reordered for oneDNN; cached until the weight's storage, dtype or version changes."""
    key = (weight.data_ptr(), weight.dtype, tuple(weight.shape), weight._version)
    return derived_copy(
        _packed, weight, key, lambda: torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACK_ROWS_HINT)
    )


def forget_packed(model: nn.Module) -> None:
    """Drop the packed copies of ``model``'s weights. Call it before decoding with weights that may
    have changed in place without a new version: fused AdamW (what training uses) updates them
    without bumping ``weight._version``, so the cache key above cannot see its updates."""
    with _lock:
        for parameter in model.parameters():
            _packed.pop(parameter, None)
            _fused.pop(parameter, None)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear``: ``x (..., in)`` -> ``(..., out)``, on the packed weight where that applies."""
    if packs(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, packed_weight(weight), bias, "none", [], "")
    return F.linear(x, weight, bias)


def stacked(layers: Sequence[nn.Linear]) -> tuple[Tensor, Tensor | None]:
    """The weights of ``layers`` one above the other, ``(sum of out_i, in)``, and their biases
    ``(sum of out_i,)`` (zeros for a layer without one; None when no layer has one)."""
    weight = torch.cat([layer.weight for layer in layers])
    if all(layer.bias is None for layer in layers):
        return weight, None
    bias = torch.cat(
        [layer.weight.new_zeros(layer.out_features) if layer.bias is None else layer.bias for layer in layers]
    )
    return weight, bias


def fused_parameters(layers: Sequence[nn.Linear]) -> tuple[Tensor, Tensor | None]:
    """``stacked(layers)``: built at each call when gradients are on, so that autograd reaches each
    layer's own parameters; for inference built once and kept until a part changes (the packed
    copy's rule; ``forget_packed`` drops it too), then packed like any weight."""
    if torch.is_grad_enabled():
        return stacked(layers)
    parts = [t for layer in layers for t in (layer.weight, layer.bias) if t is not None]
    key = tuple((t.data_ptr(), t.dtype, t._version) for t in parts)

    def build() -> tuple[Tensor, Tensor | None]:
        with torch.inference_mode(False), torch.no_grad():  # an ordinary tensor: inference tensors are never packed
            return stacked(layers)

    return derived_copy(_fused, layers[0].weight, key, build)


def fused_linear(x: Tensor, layers: Sequence[nn.Linear]) -> tuple[Tensor, ...]:
    """``x (..., in)`` through several linear layers that read it, in one matrix product -> one
    ``(..., out_i)`` view per layer. One wide product costs less than several narrow ones: the
    decoder's query, key and value projections (``bench/decode.py``)."""
    weight, bias = fused_parameters(layers)
    return linear(x, weight, bias).split([layer.out_features for layer in layers], dim=-1)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same ``state_dict``) that decodes on a packed weight."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


def prepack(model: nn.Module) -> None:
    """Pack every ``Linear`` weight of ``model`` now that decoding would pack on first use
    (before forking decoding workers, which then share the packed copies). The stacked copies of
    ``fused_linear`` are still made on first use, in each worker: a few weights per layer."""
    for module in model.modules():
        if isinstance(module, Linear) and packable(module.weight):
            packed_weight(module.weight)

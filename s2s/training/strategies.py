"""Lightning strategies that need Python objects a YAML file cannot spell (Hydra builds them from here)."""

from __future__ import annotations

from typing import Literal

from lightning.pytorch.strategies import FSDPStrategy

from s2s.nn.layers import DecoderLayer, EncoderLayer

ShardingStrategy = Literal["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD"]


def fsdp_strategy(
    *,
    sharding_strategy: ShardingStrategy = "FULL_SHARD",
    cpu_offload: bool = False,
    activation_checkpointing: bool = False,
) -> FSDPStrategy:
    """Fully sharded data parallel with one FSDP unit per Transformer layer.

    Checkpoints are gathered into one full state dict on rank 0 (``state_dict_type="full"``), so
    they stay ordinary s2s checkpoints that ``s2s translate`` and ``s2s.load`` read.
    """
    layers = {EncoderLayer, DecoderLayer}
    return FSDPStrategy(
        auto_wrap_policy=layers,
        sharding_strategy=sharding_strategy,
        cpu_offload=cpu_offload,
        activation_checkpointing_policy=layers if activation_checkpointing else None,
        state_dict_type="full",
    )

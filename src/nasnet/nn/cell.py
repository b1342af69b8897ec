"""A cell module for any valid genotype cell (the paper's Section 3 and Appendix A.4, as TF-slim builds it)."""

from __future__ import annotations

import torch
from torch import nn

from nasnet.nn.drop_path import drop_path
from nasnet.nn.ops import (
    SYMMETRIC,
    FactorizedReduce,
    NormFactory,
    Padding,
    ReLUConvBN,
    build_op,
    cat_channels,
    default_norm,
)
from nasnet.space.genotype import NUM_INPUT_STATES, Cell


class CellModule(nn.Module):
    """One normal or reduction cell.

    Args:
        cell: the genotype cell.
        c_prev_prev: channels of h_{i-1}, or ``None`` when there is none (the
            first cell after a stem), in which case the raw h_i stands in.
        c_prev: channels of h_i.
        channels: the cell's filter count (F_cell in the paper's notation).
        reduction: whether the cell halves the resolution.
        prev_prev_stride: 2 when h_{i-1} is at twice h_i's resolution.
        max_drop_prob: drop-path probability of this cell at the end of the
            schedule, ``(c + 1) / C_total * (1 - keep_final)``; 0 disables it.
        norm: makes the BatchNorm layers.
        padding: how the ops pad (`nasnet.nn.ops.Padding`); the 1x1 preprocessing convs and
            `FactorizedReduce` pad nothing, so only the blocks' ops take it.
    """

    def __init__(
        self,
        cell: Cell,
        c_prev_prev: int | None,
        c_prev: int,
        channels: int,
        reduction: bool,
        prev_prev_stride: int = 1,
        max_drop_prob: float = 0.0,
        norm: NormFactory = default_norm,
        padding: Padding = SYMMETRIC,
    ) -> None:
        super().__init__()
        cell.check()
        self.reduction = reduction
        self.max_drop_prob = max_drop_prob
        # An input that no block reads and the output omits gets no (dead) preprocessing.
        read = cell.consumed_states() | set(cell.output_states())
        self.uses_prev = 0 in read
        self.uses_prev_prev = 1 in read
        self.preprocess0 = ReLUConvBN(c_prev, channels, 1, norm=norm) if self.uses_prev else None
        self.preprocess1, c1 = self._adjust_prev_prev(c_prev_prev, c_prev, channels, prev_prev_stride, norm)
        if not self.uses_prev_prev:
            self.preprocess1 = None
        state_channels = [channels, c1]
        self.inputs: list[tuple[int, int]] = []
        self.concat_blocks: list[bool] = []
        self.drop_ops: list[tuple[bool, bool]] = []
        self.ops = nn.ModuleList()
        for block in cell.blocks:
            for state, op_name in zip(block.inputs, block.ops, strict=True):
                stride = 2 if reduction and state < NUM_INPUT_STATES else 1
                self.ops.append(build_op(op_name, state_channels[state], channels, stride, norm, padding))
            self.inputs.append(block.inputs)
            self.concat_blocks.append(block.combine == "concat")
            self.drop_ops.append(tuple(op != "identity" for op in block.ops))  # type: ignore[arg-type]
            state_channels.append(channels * block.width)
        self.output_states = cell.output_states()
        self.output_adjust = nn.ModuleDict()
        for state in self.output_states:
            if state < NUM_INPUT_STATES and (reduction or state_channels[state] != channels):
                # Inputs in the output concat must match the blocks' resolution and width.
                self.output_adjust[str(state)] = FactorizedReduce(
                    state_channels[state], channels, stride=2 if reduction else 1, relu=False, norm=norm
                )
        self.out_channels = sum(
            channels if state < NUM_INPUT_STATES else state_channels[state] for state in self.output_states
        )

    @staticmethod
    def _adjust_prev_prev(
        c_prev_prev: int | None, c_prev: int, channels: int, stride: int, norm: NormFactory
    ) -> tuple[nn.Module | None, int]:
        if c_prev_prev is None:
            return None, c_prev
        if stride == 2:
            return FactorizedReduce(c_prev_prev, channels, stride=2, relu=True, norm=norm), channels
        if stride != 1:
            raise ValueError(f"h_{{i-1}} can be at most one reduction behind h_i, got stride {stride}")
        if c_prev_prev != channels:
            return ReLUConvBN(c_prev_prev, channels, 1, norm=norm), channels
        return nn.Identity(), channels

    def forward(
        self, prev_prev: torch.Tensor | None, prev: torch.Tensor, drop_progress: torch.Tensor | None = None
    ) -> torch.Tensor:
        s0 = self.preprocess0(prev) if self.preprocess0 is not None else prev
        # h_{i-1} is the raw h_i when there is no earlier cell, or when no block reads it.
        s1 = prev if self.preprocess1 is None else self.preprocess1(prev_prev)
        states = [s0, s1]
        keep_prob = None
        if self.training and self.max_drop_prob > 0 and drop_progress is not None:
            keep_prob = 1.0 - self.max_drop_prob * drop_progress.clamp(0.0, 1.0)
        for b, (in1, in2) in enumerate(self.inputs):
            h1 = self.ops[2 * b](states[in1])
            h2 = self.ops[2 * b + 1](states[in2])
            if keep_prob is not None:
                drop1, drop2 = self.drop_ops[b]
                h1 = drop_path(h1, keep_prob) if drop1 else h1
                h2 = drop_path(h2, keep_prob) if drop2 else h2
            states.append(cat_channels([h1, h2]) if self.concat_blocks[b] else h1 + h2)
        outputs = []
        for state in self.output_states:
            adjust = self.output_adjust[str(state)] if str(state) in self.output_adjust else None  # noqa: SIM401
            outputs.append(states[state] if adjust is None else adjust(states[state]))
        return cat_channels(outputs)

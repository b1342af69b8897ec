"""The sizes a genotype's network is built at when the caller names none, each stated once.

The paper searches cells once and stacks them at any size (Section 3): N normal cells per stack
and C, the filter count of the first stack's cells (or the penultimate width F that follows from
C). Each size below is the one place its numbers live; model builders, training presets, the
command line and the synthetic evaluator refer to it by name. Plain data, free of PyTorch, so that
the synthetic evaluator can use it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    """N@C: ``cells_per_stack`` (the paper's N) and ``base_filters`` (C)."""

    cells_per_stack: int
    base_filters: int

    def fields(self) -> dict[str, int]:
        """The two as keyword arguments for a `ModelConfig` or a `TrainConfig`."""
        return {"cells_per_stack": self.cells_per_stack, "base_filters": self.base_filters}


CHILD_SIZE = ModelSize(cells_per_stack=2, base_filters=16)
"""A search child: N=2 is the paper's proxy (Appendix A.1), C=16 our choice (the paper gives none).

It is the default for any genotype (``nasnet.nn.build_model``, ``genotype_config``), the ``search``
presets' size and the size the synthetic evaluator's costs assume.
"""

CIFAR_SIZE = ModelSize(cells_per_stack=6, base_filters=32)
"""NASNet-A's CIFAR-10 size, 6@768 (the paper's Table 1).

It is `ModelConfig`'s default, ``nasnet_a_cifar``'s size, the full CIFAR-10 training presets' size,
and what ``nasnet info`` builds a genotype at unless told otherwise.
"""

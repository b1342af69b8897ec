"""ScheduledDropPath (the paper's Section 4 and Appendix A.5).

The released code ("v3") drops each op's output with a probability that grows
linearly with depth and with training time::

    keep(c, t) = 1 - (c + 1) / C_total * min(1, t / T_total) * (1 - keep_final)

for cell ``c`` (stem cells, reductions and normal cells counted from 0) of
``C_total``. One Bernoulli draw per example per path; kept paths are divided by
the keep probability (inverted dropout), so the expected output is unchanged.
At inference nothing is dropped.
"""

from __future__ import annotations

import torch


def scheduled_keep_prob(cell_index: int, total_cells: int, progress: float, keep_prob_final: float) -> float:
    """keep(c, t) with ``progress = t / T_total``."""
    layer_ratio = (cell_index + 1) / total_cells
    return 1.0 - layer_ratio * min(1.0, max(0.0, progress)) * (1.0 - keep_prob_final)


def drop_path(x: torch.Tensor, keep_prob: torch.Tensor | float) -> torch.Tensor:
    """Zero whole examples of ``x`` with probability ``1 - keep_prob``, scale the rest by ``1/keep_prob``."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    noise = torch.rand(shape, device=x.device, dtype=torch.float32)
    mask = (noise < keep_prob).to(torch.float32) / keep_prob
    return x * mask.to(x.dtype)

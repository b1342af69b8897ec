"""PyTorch modules: NASNet ops, cells, CIFAR and ImageNet skeletons, the op and model registries."""

from nasnet.nn import paper_ops, zoo  # noqa: F401  (the built-in ops and models register on import)
from nasnet.nn.cell import CellModule
from nasnet.nn.counting import ModelInfo, count_mult_adds, count_parameters, model_info
from nasnet.nn.drop_path import drop_path, scheduled_keep_prob
from nasnet.nn.network import SKELETONS, ModelConfig, ModelConfigError, NASNet
from nasnet.nn.ops import OPS, OpBuilder, build_op, register_op
from nasnet.nn.registry import (
    MODELS,
    Architecture,
    build_model,
    create_model,
    genotype_config,
    is_model_name,
    list_models,
    model_config,
    register_model,
    resolve_architecture,
)

__all__ = [
    "MODELS",
    "OPS",
    "SKELETONS",
    "Architecture",
    "CellModule",
    "ModelConfig",
    "ModelConfigError",
    "ModelInfo",
    "NASNet",
    "OpBuilder",
    "build_model",
    "build_op",
    "count_mult_adds",
    "count_parameters",
    "create_model",
    "drop_path",
    "genotype_config",
    "is_model_name",
    "list_models",
    "model_config",
    "model_info",
    "register_model",
    "register_op",
    "resolve_architecture",
    "scheduled_keep_prob",
]

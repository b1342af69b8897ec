"""PyTorch modules: NASNet ops, cells, CIFAR and ImageNet skeletons, the model registry."""

from nasnet.nn.cell import CellModule
from nasnet.nn.counting import ModelInfo, count_mult_adds, count_parameters, model_info
from nasnet.nn.drop_path import drop_path, scheduled_keep_prob
from nasnet.nn.network import SKELETONS, ModelConfig, ModelConfigError, NASNet
from nasnet.nn.ops import build_op
from nasnet.nn.registry import (
    build_model,
    create_model,
    genotype_config,
    is_model_name,
    list_models,
    model_config,
    register_model,
)

__all__ = [
    "SKELETONS",
    "CellModule",
    "ModelConfig",
    "ModelConfigError",
    "ModelInfo",
    "NASNet",
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
    "scheduled_keep_prob",
]

"""The published NASNet-A models (the paper's Tables 1-3), registered by name.

The three follow TF-slim's ``cifar_config``, ``mobile_imagenet_config`` and ``large_imagenet_config``
in the released NASNet code. BN momentum is PyTorch's usual 0.1 for all three: slim's 0.9997 decay
suits its 250k-step, 50-replica ImageNet runs, not training from scratch on one machine. Override
``bn_momentum`` to change it.
"""

from __future__ import annotations

from nasnet.nn.registry import register_model
from nasnet.space.sizing import CIFAR_SIZE
from nasnet.space.zoo import NASNET_A

register_model(
    "nasnet_a_cifar",
    genotype=NASNET_A,
    skeleton="cifar",
    **CIFAR_SIZE.fields(),
    num_classes=10,
    image_size=32,
    stem_multiplier=3.0,
    drop_path_keep_prob=0.6,
    dropout=0.0,
    aux_head=True,
    bn_eps=1e-5,
)
register_model(
    "nasnet_a_mobile",
    genotype=NASNET_A,
    skeleton="imagenet",
    cells_per_stack=4,
    base_filters=44,
    num_classes=1000,
    image_size=224,
    stem_multiplier=1.0,
    drop_path_keep_prob=1.0,
    dropout=0.5,
    aux_head=True,
    bn_eps=1e-3,
)
register_model(
    "nasnet_a_large",
    genotype=NASNET_A,
    skeleton="imagenet",
    cells_per_stack=6,
    base_filters=168,
    num_classes=1000,
    image_size=331,
    stem_multiplier=3.0,
    skip_reduction=True,
    drop_path_keep_prob=0.7,
    dropout=0.5,
    aux_head=True,
    bn_eps=1e-3,
)

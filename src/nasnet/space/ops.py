"""The op vocabulary: every op a genotype may name, with its metadata, in one registry.

`OPS` is the paper's 13 operations (Section 3) in the paper's order. That order is part of the
decision encoding of the default search space, so it must never change: a controller decision
``k`` for an op means ``OPS[k]``.

`OP_SPECS` holds every op that genotypes, search spaces and the synthetic evaluator know: the 13
below, registered here, and any op a plug-in adds with ``nasnet.nn.register_op``, which registers
its PyTorch builder and its `OpSpec` here in one step. This module stays free of PyTorch, so that
validating genotypes and scoring them synthetically never imports it. An op from an installed
distribution arrives through an entry point in the ``nasnet.ops`` group, which names the module
that registers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasnet.errors import short_repr
from nasnet.registry import Registry, RegistryError
from nasnet.validation import check_number


@dataclass(frozen=True)
class OpSpec:
    """What the search space knows about an op besides its builder.

    ``cost`` is a rough count of multiply-adds per output pixel, in units of C^2 for an op with
    C input and C output channels (a 3x3 convolution costs 9, pooling 0); the synthetic evaluator's
    cost metrics add these up.
    """

    name: str
    cost: float


OP_SPECS: Registry[OpSpec] = Registry("op", "nasnet.ops")

_PAPER_OPS: tuple[OpSpec, ...] = (
    OpSpec("identity", 0.0),
    OpSpec("conv_1x3_3x1", 6.0),
    OpSpec("conv_1x7_7x1", 14.0),
    OpSpec("dil_conv_3x3", 9.0),
    OpSpec("avg_pool_3x3", 0.0),
    OpSpec("max_pool_3x3", 0.0),
    OpSpec("max_pool_5x5", 0.0),
    OpSpec("max_pool_7x7", 0.0),
    OpSpec("conv_1x1", 1.0),
    OpSpec("conv_3x3", 9.0),
    OpSpec("sep_conv_3x3", 2.6),
    OpSpec("sep_conv_5x5", 3.6),
    OpSpec("sep_conv_7x7", 5.1),
)
for _spec in _PAPER_OPS:
    OP_SPECS.register(_spec.name, _spec)

OPS: tuple[str, ...] = tuple(spec.name for spec in _PAPER_OPS)
_PAPER_SPECS: dict[str, OpSpec] = {spec.name: spec for spec in _PAPER_OPS}
_PAPER_RANKS: dict[str, tuple[int, str]] = {name: (index, name) for index, name in enumerate(OPS)}

COMBINES: tuple[str, ...] = ("add", "concat")

OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPS)}
COMBINE_INDEX: dict[str, int] = {name: i for i, name in enumerate(COMBINES)}


def register_op_spec(name: str, cost: float | None = None) -> OpSpec:
    """Register op ``name`` with its ``cost`` (see `OpSpec`), or return the spec already registered.

    Without ``cost`` the name must be registered already (the paper's ops are): their builders in
    ``nasnet.nn`` register without restating the numbers kept here. Registering an equal spec
    again is a no-op; a different one is an error, as for every registry.
    """
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"an op needs a non-empty name, got {short_repr(name)}")
    if cost is None:
        if name not in OP_SPECS:
            raise RegistryError(f"op {name!r} is new, so it needs a cost: register_op({name!r}, cost=...)")
        return op_spec(name)
    spec = OpSpec(name, check_number(f"op {name!r}: cost", cost, low=0, error=RegistryError))
    if name in OP_SPECS:
        existing = op_spec(name)
        if existing != spec:
            raise RegistryError(f"op {name!r} is already registered, with cost {existing.cost}")
        return existing
    return OP_SPECS.register(name, spec)


def op_spec(name: str) -> OpSpec:
    """The registered `OpSpec` of ``name``; a `RegistryError` naming the known ops if there is none."""
    spec = _PAPER_SPECS.get(name)  # the common case, without the registry's lookup: this is on the hot path
    if spec is not None:
        return spec
    spec = OP_SPECS.get(name)
    if not isinstance(spec, OpSpec):
        # An entry point that names a builder object instead of the module that registers it.
        raise RegistryError(
            f"op {name!r} is registered as {short_repr(spec)}, not an OpSpec; "
            "register ops with nasnet.nn.register_op (an entry point names the module that does)"
        )
    return spec


def is_op(name: object) -> bool:
    """Whether ``name`` is a registered op (the paper's or a plug-in's)."""
    if type(name) is str and name in OP_INDEX:  # the common case first: this is on the hot path
        return True
    return isinstance(name, str) and name in OP_SPECS


def op_names() -> tuple[str, ...]:
    """Every registered op: the paper's in the paper's order, then the plug-ins' sorted by name."""
    return OPS + tuple(name for name in OP_SPECS.names() if name not in OP_INDEX)


def op_rank(name: str) -> tuple[int, str]:
    """A sort key for op names: the paper's order, then plug-in ops by name.

    The canonical form orders blocks by it. A plug-in op's rank depends on its name only, never on
    when it was registered, so canonical forms and hashes agree across processes.
    """
    return _PAPER_RANKS.get(name) or (len(OPS), name)

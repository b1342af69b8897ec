"""The NASNet search space as plain data (the paper's Section 3 and Appendix A.4): ops, genotypes, decisions, sizes."""

from nasnet.space.canonical import canonical_genotype, equivalent, genotype_hash
from nasnet.space.encoding import (
    DEFAULT_SPACE,
    SearchSpace,
    from_decisions,
    to_decisions,
)
from nasnet.space.genotype import Block, Cell, Genotype, GenotypeError, state_name
from nasnet.space.ops import COMBINES, OP_SPECS, OPS, OpSpec, is_op, op_names, op_spec, register_op_spec
from nasnet.space.serialization import (
    FORMAT_VERSION,
    GenotypeRecord,
    genotype_from_dict,
    genotype_from_json,
    genotype_to_dict,
    genotype_to_json,
    load_genotype,
    load_genotype_record,
    save_genotype,
)
from nasnet.space.sizing import CHILD_SIZE, CIFAR_SIZE, ModelSize
from nasnet.space.zoo import GENOTYPES, NASNET_A, find_genotype, list_genotypes, resolve_genotype

__all__ = [
    "CHILD_SIZE",
    "CIFAR_SIZE",
    "COMBINES",
    "DEFAULT_SPACE",
    "FORMAT_VERSION",
    "GENOTYPES",
    "NASNET_A",
    "OPS",
    "OP_SPECS",
    "Block",
    "Cell",
    "Genotype",
    "GenotypeError",
    "GenotypeRecord",
    "ModelSize",
    "OpSpec",
    "SearchSpace",
    "canonical_genotype",
    "equivalent",
    "find_genotype",
    "from_decisions",
    "genotype_from_dict",
    "genotype_from_json",
    "genotype_hash",
    "genotype_to_dict",
    "genotype_to_json",
    "is_op",
    "list_genotypes",
    "load_genotype",
    "load_genotype_record",
    "op_names",
    "op_spec",
    "register_op_spec",
    "resolve_genotype",
    "save_genotype",
    "state_name",
    "to_decisions",
]

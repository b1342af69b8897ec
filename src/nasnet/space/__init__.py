"""The NASNet search space as plain data (the paper's Section 3 and Appendix A.4)."""

from nasnet.space.canonical import canonical_genotype, equivalent, genotype_hash
from nasnet.space.encoding import (
    DEFAULT_SPACE,
    SearchSpace,
    from_decisions,
    to_decisions,
)
from nasnet.space.genotype import Block, Cell, Genotype, GenotypeError, state_name
from nasnet.space.ops import COMBINES, OPS
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
from nasnet.space.zoo import GENOTYPES, NASNET_A, list_genotypes, resolve_genotype

__all__ = [
    "COMBINES",
    "DEFAULT_SPACE",
    "FORMAT_VERSION",
    "GENOTYPES",
    "NASNET_A",
    "OPS",
    "Block",
    "Cell",
    "Genotype",
    "GenotypeError",
    "GenotypeRecord",
    "SearchSpace",
    "canonical_genotype",
    "equivalent",
    "from_decisions",
    "genotype_from_dict",
    "genotype_from_json",
    "genotype_hash",
    "genotype_to_dict",
    "genotype_to_json",
    "list_genotypes",
    "load_genotype",
    "load_genotype_record",
    "resolve_genotype",
    "save_genotype",
    "state_name",
    "to_decisions",
]

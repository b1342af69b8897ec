"""Reports: genotypes as text, experiment summaries, cell diagrams."""

from nasnet.report.text import cell_lines, genotype_text

__all__ = ["cell_lines", "genotype_text"]

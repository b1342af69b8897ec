"""Reports of searches and genotypes: genotypes as text, cell diagrams, experiment analyses and HTML reports.

This layer sits above `nasnet.search`: a report reads experiments (the store) and what their
strategies learned, and nothing below it needs a report.
"""

from nasnet.report.text import cell_lines, genotype_text

__all__ = ["cell_lines", "genotype_text"]

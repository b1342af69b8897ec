"""`nasnet draw`: a genotype's cells as a diagram in the style of the paper's Figure 4."""

from __future__ import annotations

import argparse
import shlex

from nasnet.cli.common import show
from nasnet.cli.models import cli_architecture
from nasnet.errors import NasnetError
from nasnet.report.diagram import CELL_CHOICES, FORMATS, DotMissing, diagram_format, draw_genotype


def register(commands: argparse._SubParsersAction) -> None:
    draw = commands.add_parser(
        "draw",
        help="draw a genotype's cells (the paper's Figure 4) as SVG, PNG or PDF",
        description="Draw a genotype's normal and reduction cells as the paper's Figure 4 does: the inputs "
        "h_i and h_{i-1}, one box per op (stride-2 ops of the reduction cell marked /2), a combine node per "
        "block and the concatenated output. Needs Graphviz (its dot program and pip install 'nasnet[report]'); "
        "`nasnet show GENOTYPE` prints the same cells as text.",
    )
    draw.add_argument(
        "genotype",
        metavar="GENOTYPE",
        help="a genotype JSON path (as `nasnet export` writes), a zoo genotype name, a model name or a model.pt",
    )
    draw.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help=f"file to write; its suffix picks the format ({', '.join('.' + fmt for fmt in FORMATS)})",
    )
    draw.add_argument("--cell", choices=CELL_CHOICES, default="both", help="which cell to draw (default: both)")
    draw.set_defaults(handler=cmd_draw)


def cmd_draw(args: argparse.Namespace) -> int:
    diagram_format(args.output)  # a wrong suffix is reported before the genotype is loaded
    architecture = cli_architecture(args.genotype)
    try:
        path = draw_genotype(architecture.genotype, args.output, architecture.label or args.genotype, cell=args.cell)
    except DotMissing as err:
        raise NasnetError(
            f"{err}; or print the cells as text: nasnet show {shlex.quote(show(args.genotype))}"
        ) from None
    print(f"wrote {path}")
    return 0


__all__ = ["cmd_draw", "register"]

"""`nasnet convert-weights`: published NASNet-A weights (Keras, timm, Cadene) as a nasnet safetensors file."""

from __future__ import annotations

import argparse
import json

from nasnet.nn.weights import LAYOUTS, convert_weights, save_weights


def register(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser(
        "convert-weights",
        help="convert published NASNet-A weights (Keras .h5, timm/Cadene .pth or .safetensors) to nasnet's layout",
    )
    convert.add_argument("source", metavar="SRC", help="the weights file to read")
    convert.add_argument("-o", "--output", required=True, metavar="DST.safetensors", help="where to write them")
    convert.add_argument(
        "--model", default="nasnet_a_mobile", choices=("nasnet_a_mobile", "nasnet_a_large"), help="the model they fit"
    )
    convert.add_argument(
        "--from",
        dest="layout",
        default="auto",
        choices=("auto", *(layout for layout in LAYOUTS if layout != "nasnet")),
        help="the file's layout (default: found from its contents; timm and Cadene share names, and a "
        "1001-way head or NASNet-A Mobile means Cadene)",
    )
    convert.add_argument("--json", action="store_true", help="print what was written as JSON")
    convert.set_defaults(handler=cmd_convert_weights)


def cmd_convert_weights(args: argparse.Namespace) -> int:
    converted = convert_weights(args.source, model=args.model, layout=args.layout)
    path = save_weights(converted, args.output)
    summary = {"output": str(path), "tensors": len(converted.state_dict), **converted.metadata()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {path}: {len(converted.state_dict)} tensors of {converted.model} from the {converted.layout} "
            f"layout (padding {converted.padding.mode})"
        )
    return 0


__all__ = ["cmd_convert_weights", "register"]

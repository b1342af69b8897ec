"""The versioned JSON format for genotypes.

A genotype file is plain JSON, read with `json.loads` and checked field by
field: loading one never executes anything. Example::

    {
      "format": "nasnet.genotype",
      "version": 1,
      "name": "my_cell",
      "normal": {"blocks": [{"inputs": [0, 1], "ops": ["sep_conv_5x5", "sep_conv_3x3"],
                             "combine": "add"}, ...],
                 "concat": null},
      "reduction": {...},
      "meta": {"reward": 0.91}
    }

``concat`` is optional; ``null`` (or absent) means the paper's rule. ``meta`` is
free-form provenance (experiment, trial, reward) and does not affect identity.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasnet.errors import short_repr
from nasnet.fileio import atomic_write_json
from nasnet.space.genotype import CELL_KINDS, DEFAULT_NUM_BLOCKS, Block, Cell, Genotype, GenotypeError

FORMAT_NAME = "nasnet.genotype"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

MAX_FILE_BYTES = 1 << 20  # far above any real genotype; a bound so that no input can exhaust memory
MAX_BLOCKS = 100  # per cell: the search uses 5; a bound so that canonical hashing stays fast

_TOP_KEYS = {"format", "version", "name", "normal", "reduction", "meta"}
_CELL_KEYS = {"blocks", "concat"}
_BLOCK_KEYS = {"inputs", "ops", "combine"}


@dataclass(frozen=True)
class GenotypeRecord:
    """A genotype together with the name and metadata its file carried."""

    genotype: Genotype
    name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _cell_to_dict(cell: Cell) -> dict[str, Any]:
    return {
        "blocks": [
            {"inputs": list(block.inputs), "ops": list(block.ops), "combine": block.combine} for block in cell.blocks
        ],
        "concat": None if cell.concat is None else list(cell.concat),
    }


def genotype_to_dict(
    genotype: Genotype,
    name: str | None = None,
    meta: dict[str, Any] | None = None,
    include_header: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if include_header:
        out["format"] = FORMAT_NAME
        out["version"] = FORMAT_VERSION
    if name is not None:
        out["name"] = name
    for kind, cell in genotype.cells():
        out[kind] = _cell_to_dict(cell)
    if meta:
        out["meta"] = meta
    return out


def _error(source: str, message: str) -> GenotypeError:
    return GenotypeError(f"{source}: {message}")


def _check_keys(source: str, where: str, obj: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _error(source, f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(obj))
    if missing:
        raise _error(source, f"{where}: missing field(s) {missing}")


def _pair(source: str, where: str, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise _error(source, f"{where}: expected a list of two items, got {short_repr(value)}")
    return value[0], value[1]


def _block_from_dict(source: str, kind: str, index: int, obj: Any) -> Block:
    where = f"{kind} cell, block {index}"
    if not isinstance(obj, dict):
        raise _error(source, f"{where}: expected an object, got {type(obj).__name__}")
    _check_keys(source, where, obj, _BLOCK_KEYS, {"inputs", "ops"})
    combine = obj.get("combine", "add")
    return Block(
        inputs=_pair(source, f"{where}, field 'inputs'", obj["inputs"]),
        ops=_pair(source, f"{where}, field 'ops'", obj["ops"]),
        combine=combine,
    )


def _cell_from_dict(source: str, kind: str, obj: Any) -> Cell:
    if not isinstance(obj, dict):
        raise _error(source, f"field '{kind}': expected an object, got {type(obj).__name__}")
    _check_keys(source, f"{kind} cell", obj, _CELL_KEYS, {"blocks"})
    blocks = obj["blocks"]
    if not isinstance(blocks, list):
        raise _error(source, f"{kind} cell, field 'blocks': expected a list, got {type(blocks).__name__}")
    if len(blocks) > MAX_BLOCKS:
        raise _error(source, f"{kind} cell, field 'blocks': {len(blocks)} blocks; at most {MAX_BLOCKS} are supported")
    concat = obj.get("concat")
    if concat is not None and not isinstance(concat, list):
        raise _error(source, f"{kind} cell, field 'concat': expected a list or null, got {short_repr(concat)}")
    return Cell(
        blocks=tuple(_block_from_dict(source, kind, i, b) for i, b in enumerate(blocks)),
        concat=None if concat is None else tuple(concat),
    )


def record_from_dict(obj: Any, source: str = "genotype", num_blocks: int | None = DEFAULT_NUM_BLOCKS) -> GenotypeRecord:
    """Parse and validate a genotype document. ``num_blocks=None`` accepts any B."""
    if not isinstance(obj, dict):
        raise _error(source, f"expected a JSON object at the top level, got {type(obj).__name__}")
    _check_keys(source, "top level", obj, _TOP_KEYS, {"format", "version", "normal", "reduction"})
    if obj["format"] != FORMAT_NAME:
        raise _error(source, f"field 'format': expected {FORMAT_NAME!r}, got {obj['format']!r}")
    version = obj["version"]
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise _error(
            source,
            f"field 'version': unsupported format version {version!r}; this nasnet reads "
            f"version(s) {', '.join(map(str, SUPPORTED_VERSIONS))}",
        )
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise _error(source, f"field 'name': expected a string, got {short_repr(name)}")
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise _error(source, f"field 'meta': expected an object, got {type(meta).__name__}")
    try:
        cells = {kind: _cell_from_dict(source, kind, obj[kind]) for kind in CELL_KINDS}
        genotype = Genotype(**cells)
        genotype.check(num_blocks=num_blocks)
    except GenotypeError as err:
        message = str(err)
        raise (err if message.startswith(f"{source}:") else _error(source, message)) from None
    return GenotypeRecord(genotype=genotype, name=name, meta=meta)


def genotype_from_dict(obj: Any, source: str = "genotype", num_blocks: int | None = DEFAULT_NUM_BLOCKS) -> Genotype:
    return record_from_dict(obj, source, num_blocks).genotype


def genotype_to_json(genotype: Genotype, name: str | None = None, meta: dict[str, Any] | None = None) -> str:
    return json.dumps(genotype_to_dict(genotype, name=name, meta=meta), indent=2) + "\n"


def record_from_json(
    text: str | bytes, source: str = "genotype", num_blocks: int | None = DEFAULT_NUM_BLOCKS
) -> GenotypeRecord:
    if len(text) > MAX_FILE_BYTES:
        raise _error(source, f"{len(text):,} bytes; a genotype document is at most {MAX_FILE_BYTES:,}")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise _error(source, f"not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}") from None
    except UnicodeDecodeError as err:
        raise _error(source, f"not UTF-8 text: {short_repr(str(err), 120)}") from None
    except RecursionError:
        raise _error(source, "JSON nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise _error(source, f"not a usable JSON document: {short_repr(str(err), 120)}") from None
    return record_from_dict(obj, source, num_blocks)


def genotype_from_json(
    text: str | bytes, source: str = "genotype", num_blocks: int | None = DEFAULT_NUM_BLOCKS
) -> Genotype:
    return record_from_json(text, source, num_blocks).genotype


def load_genotype_record(path: str | os.PathLike[str], num_blocks: int | None = DEFAULT_NUM_BLOCKS) -> GenotypeRecord:
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # bounded: /dev/zero or a huge file must not exhaust memory
    except OSError as err:
        raise GenotypeError(f"{file}: cannot read genotype file: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise GenotypeError(f"{file}: larger than {MAX_FILE_BYTES:,} bytes; not a genotype file")
    return record_from_json(data, source=str(file), num_blocks=num_blocks)


def load_genotype(path: str | os.PathLike[str], num_blocks: int | None = DEFAULT_NUM_BLOCKS) -> Genotype:
    return load_genotype_record(path, num_blocks).genotype


def save_genotype(
    genotype: Genotype,
    path: str | os.PathLike[str],
    name: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``genotype`` as JSON, atomically."""
    return atomic_write_json(path, genotype_to_dict(genotype, name=name, meta=meta))

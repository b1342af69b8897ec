"""`nasnet export-model`: ONNX, TorchScript and torch.export files that compute what the PyTorch model does."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import random_splits
from nasnet import __version__
from nasnet.nn import NASNet, create_model
from nasnet.space import DEFAULT_SPACE, genotype_to_dict
from nasnet.store.trial import TrialState
from nasnet.train import DeviceData, get_preset, load_model, train
from nasnet.train import export as export_module
from nasnet.train.export import (
    FORMATS,
    ExportError,
    ExportMismatch,
    ExportResult,
    MissingExportDependency,
    export_model,
    read_export_metadata,
)
from nasnet.train.model_file import save_model
from nasnet.train.result import TrainResult

# TorchScript is deprecated in torch 2.13; the format is still asked for, and loading it is what a user does.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

TOLERANCE = 1e-4
SEED = 7
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


def needs(fmt: str) -> None:
    """Skip an ONNX test where the [export] extra is not installed; the other formats need only torch."""
    if fmt == "onnx":
        for name in ONNX_MODULES:
            pytest.importorskip(name)


@pytest.fixture(scope="module")
def searched_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from a real (one-epoch) `train` of a randomly sampled cell, with an aux head, seed and accuracy."""
    out = tmp_path_factory.mktemp("searched")
    config = get_preset("smoke", epochs=1, train_subset=None, val_subset=None, batch_size=32, seed=SEED, aux_weight=0.4)
    result = train(DEFAULT_SPACE.sample(11), random_splits(count=64, size=16), config, device="cpu", out_dir=out)
    assert result.ok
    return out


@pytest.fixture(scope="module")
def mobile_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NASNet-A Mobile with random weights, written as `nasnet train` writes model.pt.

    Its BN statistics are set from one batch, as training leaves them: with the initial ones (mean 0,
    variance 1) activations grow through the 16 cells to logits near 1e4, where float32 rounding
    alone exceeds an absolute 1e-4.
    """
    torch.manual_seed(0)
    model = create_model("nasnet_a_mobile")
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a cumulative average: after one batch, exactly its statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 224, 224))
    model.eval()
    data = DeviceData.from_splits(random_splits(count=4, size=224, classes=1000), "cpu")
    path = tmp_path_factory.mktemp("mobile") / "model.pt"
    result = TrainResult(TrialState.COMPLETE, accuracy=0.25)
    save_model(path, model, model.config, data, get_preset("smoke", seed=SEED), result)
    return path


@pytest.fixture(scope="module")
def searched_exports(searched_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    out = tmp_path_factory.mktemp("searched-exports")
    results = {}
    for fmt in FORMATS:
        if fmt == "onnx" and not all(_installed(name) for name in ONNX_MODULES):
            continue
        results[fmt] = export_model(searched_run, out, fmt)
    return results


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _runner(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """The exported file, loaded as a user would."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    return torch.export.load(str(path)).module()


def _reference(model_file: Path) -> tuple[NASNet, list[float], list[float]]:
    loaded = load_model(model_file)
    return loaded.model.eval(), loaded.mean, loaded.std


def _max_diff(fmt: str, path: Path, model_file: Path, batches: tuple[int, ...]) -> float:
    model, mean, std = _reference(model_file)
    run = _runner(fmt, path)
    size = model.config.image_size
    generator = torch.Generator().manual_seed(123)
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            pixels = torch.rand(batch, 3, size, size, generator=generator)
            x = (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
            expected, got = model(x), run(x)
            assert got.shape == (batch, model.config.num_classes)  # logits only, any batch size
            worst = max(worst, (got - expected).abs().max().item())
    return worst


def _no_leftovers(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ---- exports match PyTorch --------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_searched_cell_exports_match_pytorch_at_other_batch_sizes(fmt: str, searched_exports, searched_run) -> None:
    needs(fmt)
    result = searched_exports[fmt]
    assert result.path.is_file() and result.format == fmt
    assert result.max_abs_diff is not None and result.max_abs_diff <= TOLERANCE
    # Checked again here, independently of the exporter's own check, at batch sizes it did not use.
    assert _max_diff(fmt, result.path, searched_run / "model.pt", (1, 5)) <= TOLERANCE
    _no_leftovers(result.path.parent)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_nasnet_a_mobile_exports_match_pytorch(fmt: str, mobile_model_file: Path, tmp_path: Path) -> None:
    needs(fmt)
    result = export_model(mobile_model_file, tmp_path / f"mobile-{fmt}", fmt)
    assert result.max_abs_diff is not None and result.max_abs_diff <= TOLERANCE
    if fmt != "exported":  # loading a .pt2 again costs seconds; the export's own check already ran it
        assert _max_diff(fmt, result.path, mobile_model_file, (1,)) <= TOLERANCE
    assert read_export_metadata(result.path)["genotype"] == genotype_to_dict(
        load_model(mobile_model_file).model.config.genotype
    )


def test_onnx_graph_has_named_dynamic_batch_and_no_aux_head(searched_exports) -> None:
    needs("onnx")
    import onnx

    proto = onnx.load(str(searched_exports["onnx"].path))
    (graph_input,) = proto.graph.input
    (graph_output,) = proto.graph.output
    assert (graph_input.name, graph_output.name) == ("images", "logits")
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 16, 16]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {export_module.ONNX_OPSET}
    assert not [i.name for i in proto.graph.initializer if "aux" in i.name]


def test_torchscript_and_program_leave_out_the_aux_head(searched_exports, searched_run) -> None:
    assert load_model(searched_run / "model.pt").model.aux_head is not None  # the trained model has one
    scripted = torch.jit.load(str(searched_exports["torchscript"].path))
    assert not [name for name, _ in scripted.named_parameters() if "aux" in name]
    program = torch.export.load(str(searched_exports["exported"].path))
    assert not [name for name in program.state_dict if "aux" in name]


# ---- metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_round_trips(fmt: str, searched_exports, searched_run) -> None:
    needs(fmt)
    result = searched_exports[fmt]
    metadata = read_export_metadata(result.path)
    assert metadata == json.loads(json.dumps(result.metadata))
    loaded = load_model(searched_run / "model.pt")
    trained = json.loads((searched_run / "result.json").read_text())
    assert metadata["format"] == fmt and metadata["nasnet_version"] == __version__
    assert metadata["genotype"] == genotype_to_dict(loaded.model.config.genotype)
    assert metadata["mean"] == pytest.approx(loaded.mean) and metadata["std"] == pytest.approx(loaded.std)
    assert metadata["classes"] == loaded.classes == ["0", "1", "2", "3"]
    assert metadata["accuracy"] == trained["accuracy"] and metadata["seed"] == SEED
    assert metadata["image_size"] == 16 and metadata["input"]["name"] == "images"
    assert Path(metadata["source_file"]).name == "model.pt" and len(metadata["source_sha256"]) == 64
    assert metadata["model_config"]["aux_head"] is False


def test_onnx_metadata_is_json_per_key_for_any_runtime(searched_exports) -> None:
    needs("onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(searched_exports["onnx"].path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["mean"]) == searched_exports["onnx"].metadata["mean"]
    assert json.loads(props["genotype"])["normal"] and json.loads(props["onnx_opset"]) == export_module.ONNX_OPSET


def test_reading_metadata_of_other_files_is_an_error(searched_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"holds no nasnet\.json"):
        read_export_metadata(searched_run / "model.pt")  # a zip archive too, but not an export
    with pytest.raises(ExportError, match="no such file"):
        read_export_metadata(tmp_path / "absent.onnx")
    if _installed("onnx"):
        garbage = tmp_path / "garbage.onnx"
        garbage.write_bytes(b"\xff\x00 not a model \x13" * 10)
        with pytest.raises(ExportError):
            read_export_metadata(garbage)


# ---- the check on write -----------------------------------------------------------------


def test_a_mismatch_fails_and_writes_nothing(searched_run: Path, tmp_path: Path, monkeypatch) -> None:
    original = export_module._RUNNERS["torchscript"]

    def off_by_a_little(data: bytes) -> Callable[[torch.Tensor], torch.Tensor]:
        run = original(data)
        return lambda x: run(x) + 3e-4

    monkeypatch.setitem(export_module._RUNNERS, "torchscript", off_by_a_little)
    target = tmp_path / "model.ts"
    with pytest.raises(ExportMismatch, match=r"max \|diff\| 0.0003 > tolerance 0.0001") as caught:
        export_model(searched_run, target, "torchscript")
    assert caught.value.max_abs_diff == pytest.approx(3e-4, rel=0.01)
    assert list(tmp_path.iterdir()) == []
    result = export_model(searched_run, target, "torchscript", tolerance=1e-3)  # a looser tolerance accepts it
    assert result.path == target and target.is_file()
    unchecked = export_model(searched_run, tmp_path / "unchecked.ts", "torchscript", check=False)
    assert unchecked.max_abs_diff is None
    _no_leftovers(tmp_path)


def test_a_failed_export_leaves_an_earlier_file_untouched(searched_run: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "model.pt2"
    target.write_bytes(b"earlier")

    def broken(*args: Any) -> bytes:
        raise RuntimeError("unsupported operator\nwith a long traceback-like tail")

    monkeypatch.setitem(export_module._EXPORTERS, "exported", broken)
    with pytest.raises(ExportError, match=r"exported export of .* failed: RuntimeError: unsupported operator$"):
        export_model(searched_run, target, "exported")
    assert target.read_bytes() == b"earlier"
    _no_leftovers(tmp_path)


# ---- command line -----------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch) -> Callable[[list[str]], int]:
    """`nasnet.cli.main`, with export-model registered even where the CLI does not list it yet."""
    from nasnet import cli as cli_module
    from nasnet.cli import export_model as command

    build = cli_module.build_parser

    def build_with_export() -> argparse.ArgumentParser:
        parser = build()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "export-model" not in commands.choices:
            command.register(commands)
        return parser

    monkeypatch.setattr(cli_module, "build_parser", build_with_export)
    return cli_module.main


def test_cli_exports_a_run_folder_and_says_what_it_wrote(cli, searched_run: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "cell.ts"
    assert cli(["export-model", str(searched_run), "--format", "torchscript", "-o", str(target)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {target} (torchscript, max |diff| vs PyTorch: ") and line.endswith(")")
    assert read_export_metadata(target)["seed"] == SEED


def test_cli_default_output_is_beside_the_model(cli, searched_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes((searched_run / "model.pt").read_bytes())
    assert cli(["export-model", str(run / "model.pt"), "--format", "exported", "--no-check"]) == 0
    assert (
        capsys.readouterr().out.strip() == f"wrote {run / 'model.pt2'} (exported, max |diff| vs PyTorch: not checked)"
    )


def _error_line(cli, argv: list[str], capsys) -> str:
    assert cli(["export-model", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    assert lines[0].startswith("nasnet export-model: error: ")
    return lines[0]


def test_cli_errors_are_one_line(cli, searched_run: Path, tmp_path: Path, capsys) -> None:
    model = str(searched_run / "model.pt")
    assert "no such checkpoint" in _error_line(cli, [str(tmp_path / "none.pt"), "--format", "torchscript"], capsys)
    garbled = tmp_path / "garbled.pt"
    garbled.write_bytes((searched_run / "model.pt").read_bytes()[:5000])
    assert "not a readable nasnet checkpoint" in _error_line(cli, [str(garbled), "--format", "torchscript"], capsys)
    assert "unknown format 'tflite'" in _error_line(cli, [model, "--format", "tflite"], capsys)
    out = tmp_path / "missing" / "model.onnx"
    assert "output folder" in _error_line(cli, [model, "--format", "torchscript", "-o", str(out)], capsys)
    assert "is the model file" in _error_line(cli, [model, "--format", "torchscript", "-o", model], capsys)
    assert "tolerance" in _error_line(cli, [model, "--format", "torchscript", "--tolerance", "nan"], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbled.pt"]


def test_missing_onnx_packages_name_the_extra(cli, searched_run: Path, capsys, monkeypatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec

    def without(*names: str) -> None:
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name in names else find_spec(name, *a)
        )

    without("onnxruntime")
    line = _error_line(cli, [str(searched_run), "--format", "onnx"], capsys)
    assert "needs onnxruntime" in line and "pip install 'nasnet[export]'" in line and "--no-check" in line
    without("onnx", "onnxscript")
    line = _error_line(cli, [str(searched_run), "--format", "onnx", "--no-check"], capsys)
    assert "needs onnx and onnxscript" in line and "pip install 'nasnet[export]'" in line
    with pytest.raises(MissingExportDependency, match="nasnet\\[export\\]"):
        read_export_metadata(searched_run / "result.json")  # not a zip: only onnx could read it

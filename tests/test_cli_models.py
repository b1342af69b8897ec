import json

from nasnet.cli import main
from nasnet.space import DEFAULT_SPACE, save_genotype


def test_show_prints_blocks_inputs_ops_and_concat(capsys):
    assert main(["show", "nasnet_a"]) == 0
    out = capsys.readouterr().out
    assert "B0 = sep_conv_5x5(h_i) + sep_conv_3x3(h_{i-1})" in out
    assert "output = concat(h_{i-1}, B0, B1, B2, B3, B4)" in out
    assert "B3 = identity(B1) + avg_pool_3x3(B0)" in out
    assert "max_pool_3x3/2(h_i)" in out


def test_show_a_genotype_file_with_decisions(tmp_path, capsys):
    genotype = DEFAULT_SPACE.sample(5)
    path = save_genotype(genotype, tmp_path / "g.json", name="five", meta={"reward": 0.5})
    assert main(["show", str(path), "--decisions"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("five")
    assert f"decisions = {DEFAULT_SPACE.to_decisions(genotype)}" in out
    assert "meta.reward = 0.5" in out


def test_info_json_keys(capsys):
    assert main(["info", "nasnet_a_mobile", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["params"] == 5_289_978
    assert abs(payload["mult_adds"] - 564e6) / 564e6 < 0.01
    assert payload["shapes"]["Cell_11"] == [1056, 7, 7]
    assert payload["aux_head_params"] > 0


def test_info_for_a_genotype_with_sizing(tmp_path, capsys):
    genotype = DEFAULT_SPACE.sample(3)
    path = save_genotype(genotype, tmp_path / "g.json")
    width = genotype.normal.output_width()
    assert main(["info", str(path), "-N", "2", "-F", str(4 * width * 8), "--no-aux-head", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["filters"] == 4 * width * 8 and payload["base_filters"] == 8
    assert payload["config"]["cells_per_stack"] == 2


def test_info_table(capsys):
    assert main(["info", "nasnet_a_cifar"]) == 0
    out = capsys.readouterr().out
    assert "3,346,538" in out and "Reduction_Cell_1" in out


def test_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nasnet.genotype", "version": 1, "normal": ')
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nasnet show: error: {bad}: not valid JSON") and "Traceback" not in err
    assert main(["info", "no_such_thing"]) == 2
    assert "neither a known genotype" in capsys.readouterr().err
    assert main(["info", "nasnet_a_cifar", "-F", "100"]) == 2
    assert "field 'filters'" in capsys.readouterr().err


def test_models_lists_the_zoo(capsys):
    assert main(["models", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = {m["name"]: m for m in payload["models"]}
    assert names["nasnet_a_large"]["params"] == 88_753_150
    assert payload["genotypes"] == ["nasnet_a"]

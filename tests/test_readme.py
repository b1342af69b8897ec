"""The README's Python example, pasted into a script, runs as it stands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_data import write_cifar10_folder

ROOT = Path(__file__).resolve().parents[1]


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_a_python_example():
    assert readme_python_blocks()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(readme_python_blocks())))
def test_readme_python_example_runs_as_pasted(index, tmp_path):
    data = tmp_path / "data"
    write_cifar10_folder(data, per_batch=1200)  # 6,000 training images: 5,000 held out as the reward set, 1,000 left
    script = tmp_path / "example.py"
    script.write_text(readme_python_blocks()[index])
    env = {**os.environ, "NASNET_DATA": str(data), "NASNET_CACHE": str(tmp_path / "cache"), "NASNET_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    assert "best reward" in completed.stdout

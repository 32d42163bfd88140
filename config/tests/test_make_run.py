"""The first `make run` says what it is doing at each step (read from `make -n`, nothing runs)."""

import shutil
import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def test_first_make_run_announces_each_step_and_shows_pips_progress(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # -W: as if requirements.txt had just changed, so the install step is part of the run.
    command = ["make", "--no-print-directory", "-n", "-W", "requirements.txt", "run"]
    variables = [f"SECRET_KEY_FILE={tmp_path / 'secret_key'}", "HOST=127.0.0.1", "PORT=9000"]
    plan = subprocess.run(
        command + variables, cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    steps = [line.removeprefix('echo "==> ').rstrip('"') for line in plan if "==>" in line]
    assert [step.split()[0] for step in steps] == [
        "Installing",
        "Checking",
        "Applying",
        "Demo",
        "Starting",
    ]
    assert "sample data" in steps[3]
    assert "127.0.0.1:9000" in steps[4]
    install = next(line for line in plan if "pip install" in line)
    assert "-r requirements.txt" in install
    assert " -q" not in install

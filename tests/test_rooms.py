"""The rooms hold: model/ without Qt, app/ without widgets or ui/, ui/ without torch or model/.

The contracts live in pyproject.toml (``[tool.importlinter]``); `lint-imports` checks them from the
repository root, and so does this test, which shows import-linter's report (each broken contract
and the import chain that breaks it) when one fails.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_import_contract_is_kept():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                               "sys.exit(lint_imports_command())", "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "Analyzed" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[result.stdout.find("Contracts"):] + result.stderr


def test_training_progress_is_read_without_the_training_loop():
    """The studio reads a run's progress lines; that must not load the trainer with it."""
    probe = "import sys, model.training.progress; print('model.training.loop' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "False"

"""scripts/make_model_card.py's command line: what the card's Reproduce section shows, bad input."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_model_card", REPO / "scripts" / "make_model_card.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(script, monkeypatch, *words: str):
    monkeypatch.setattr(sys, "argv", ["make_model_card.py", *words])
    return script.parse_args()


def test_the_cards_command_names_paths_outside_the_repository_by_their_role(script, monkeypatch, tmp_path):
    earlier = REPO / "README.md"  # any file inside the repository
    args = _args(script, monkeypatch, "--run", str(tmp_path / "runs" / "default"), "--log", str(tmp_path / "x.log"),
                 "--val", str(tmp_path / "val"), "--earlier", str(earlier), "--threads", "2", "--ship")
    assert script.command_line(args) == (
        "nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/make_model_card.py --run RUN --log LOG "
        "--val VAL --earlier README.md --threads 2 --ship")
    assert str(tmp_path) not in script.command_line(args)


def test_a_missing_record_of_earlier_runs_is_one_clear_error(script, monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _args(script, monkeypatch, "--run", "r", "--log", "l", "--earlier", str(tmp_path / "EARLIER.md"))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"--earlier {tmp_path / 'EARLIER.md'}: no such file")

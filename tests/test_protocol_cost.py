"""The sittings ledger of benchmarks/protocol_cost.py: a resumed run's wall is the sum of its kept spans."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "protocol_cost.py"


def load_protocol_cost():
    spec = importlib.util.spec_from_file_location("protocol_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sittings_sum_kept_spans_and_ignore_prose(tmp_path: Path) -> None:
    ledger = tmp_path / "sittings.txt"
    ledger.write_text(
        "sitting 1 start 2026-12-02T16:06:13Z commit abc\n"
        "  done: random subsets (prose lines are ignored)\n"
        "sitting 1 counted 2026-12-02T16:06:13Z .. 2026-12-02T16:46:42Z (end: manifest written)\n"
        "sitting 2 counted 2026-12-02T23:48:04Z .. 2026-12-03T00:54:35Z (end: done)\n")
    rows = load_protocol_cost().sittings(ledger)
    assert [row["sitting"] for row in rows] == [1, 2]
    assert [row["seconds"] for row in rows] == [2429.0, 3991.0]


def test_sittings_name_the_line_of_a_bad_time(tmp_path: Path) -> None:
    ledger = tmp_path / "sittings.txt"
    ledger.write_text("sitting 1 counted 2026-12-02T16:06:13Z .. yesterday\n")
    with pytest.raises(ValueError, match=r"sittings.txt, line 1: .*ISO"):
        load_protocol_cost().sittings(ledger)

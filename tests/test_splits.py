"""Splits: the paper's ID hold-out, OOD proxies, JSON round trip with checksums, coverage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lessdata.datasets import DatasetError, load_dataset
from lessdata.splits import OODSpec, Split, coverage, default_ood, make_split


@pytest.fixture()
def small_dataset(small_env: Path):
    return load_dataset("mp18_small", "e_form", progress=False)


def test_id_split_is_the_papers_and_reproducible(small_dataset, tmp_path: Path) -> None:
    split = make_split(small_dataset, ood=[])
    assert len(split.test_ids) == pytest.approx(0.1 * len(small_dataset), abs=1)
    assert not set(split.pool_ids) & set(split.test_ids)
    assert len(split.pool_ids) + len(split.test_ids) == len(small_dataset)
    path = split.save(tmp_path / "split.json")
    loaded = Split.load(path)
    assert np.array_equal(loaded.pool_ids, split.pool_ids)
    assert np.array_equal(loaded.rebuild(small_dataset).test_ids, split.test_ids)


def test_ood_sets_are_excluded_from_pool_and_test(small_dataset) -> None:
    specs = [OODSpec.parse("newest=0.1"), OODSpec.parse("element=Li+O"), OODSpec.parse("target=0.05"),
             OODSpec.parse("cluster=5")]
    split = make_split(small_dataset, ood=specs)
    assert set(split.ood_ids) == {"newest", "element_Li-O", "target", "cluster"}
    in_distribution = set(split.pool_ids) | set(split.test_ids)
    seen: set[str] = set()
    for ids in split.ood_ids.values():
        assert not set(ids) & in_distribution
        assert not set(ids) & seen  # an entry belongs to one OOD set only
        seen |= set(ids)
    assert len(in_distribution) + len(seen) == len(small_dataset)
    numbers = {i: int(i.split("-")[1]) for i in small_dataset.ids}
    newest = [numbers[i] for i in split.ood_ids["newest"]]
    assert min(newest) > np.median(list(numbers.values()))
    position = {i: k for k, i in enumerate(small_dataset.ids)}
    for identifier in split.ood_ids["element_Li-O"]:
        formula = small_dataset.formulas[position[identifier]]
        assert "Li" in formula or "O" in formula.replace("Os", "")


def test_default_ood_for_sequential_ids(small_dataset) -> None:
    assert default_ood(small_dataset) == [OODSpec("newest")]


def test_tampered_split_is_refused(small_dataset, tmp_path: Path) -> None:
    path = make_split(small_dataset).save(tmp_path / "split.json")
    content = json.loads(path.read_text())
    content["pool"]["ids"][0] = content["id_test"]["ids"][0]
    path.write_text(json.dumps(content))
    with pytest.raises(DatasetError, match="does not match its sha256"):
        Split.load(path)


@pytest.mark.parametrize("text", ["newest=1.5", "element", "element=Xx", "cluster=1", "bogus"])
def test_bad_ood_specs(text: str) -> None:
    with pytest.raises(ValueError):
        OODSpec.parse(text)


def test_coverage_flags_far_sets(small_dataset) -> None:
    split = make_split(small_dataset, ood=[OODSpec.parse("cluster=5")])
    rows = small_dataset.positions
    table = coverage(small_dataset.X[rows(split.pool_ids)], small_dataset.X[rows(split.test_ids)],
                     {"cluster": small_dataset.X[rows(split.ood_ids["cluster"])]})
    by_set = table.set_index("eval_set")
    assert by_set.loc["id_test", "median_ratio_to_id"] == pytest.approx(1.0)
    # The held-out cluster is the one farthest from the data: it lies farther from the pool.
    assert by_set.loc["ood_cluster", "median_ratio_to_id"] > 1.0

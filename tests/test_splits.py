"""Splits: the paper's ID hold-out, OOD proxies, JSON round trip with checksums, coverage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from lessdata.data.datasets import DatasetError, load_dataset
from lessdata.splits.holdout import OODSpec, Split, coverage, default_ood, make_split, read_id_list


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
    assert default_ood(small_dataset)[0] == [OODSpec("newest")]


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


def test_newest_is_default_only_for_materials_project_ids(small_dataset) -> None:
    """A user's numbered ids (sample-00001 ...) have no known time order: no OOD set is carved out."""
    specs, reason = default_ood(small_dataset)
    assert specs == [OODSpec("newest")] and "mp-N" in reason
    renamed = dataclasses.replace(small_dataset, name="mp18_small",
                                  ids=np.array([f"sample-{i:05d}" for i in range(len(small_dataset))]))
    specs, reason = default_ood(renamed)
    assert specs == [] and "--ood" in reason
    split = make_split(renamed)
    assert split.ood_ids == {} and len(split.pool_ids) + len(split.test_ids) == len(renamed)
    assert "no default OOD set" in split.summary()


def test_given_test_ids_are_the_hold_out(small_dataset, tmp_path: Path) -> None:
    chosen = small_dataset.ids[::7][:150]
    id_file = tmp_path / "ids.txt"
    id_file.write_text("# the authors' hold-out\n" + "\n".join(chosen[::-1]) + "\n\n")
    given = read_id_list(id_file)
    split = make_split(small_dataset, ood=[], test_ids=given)
    assert set(split.test_ids) == set(chosen)
    assert set(split.pool_ids) == set(small_dataset.ids) - set(chosen)
    assert split.label.startswith("ids-") and split.label != make_split(small_dataset, ood=[]).label
    # the same set in another file order is the same split
    assert make_split(small_dataset, ood=[], test_ids=chosen).label == split.label
    assert split.rebuild(small_dataset).label == split.label
    with pytest.raises(DatasetError, match="not in mp18_small"):
        make_split(small_dataset, ood=[], test_ids=np.array([*chosen[:3], "mp-does-not-exist"]))
    with pytest.raises(DatasetError, match="OOD set"):
        make_split(small_dataset, ood=[OODSpec("newest")], test_ids=small_dataset.ids[:50])
    (tmp_path / "twice.txt").write_text("mp-1\nmp-1\n")
    with pytest.raises(DatasetError, match="twice"):
        read_id_list(tmp_path / "twice.txt")
    with pytest.raises(DatasetError, match="no such file"):
        read_id_list(tmp_path / "missing.txt")


def test_split_seeds_give_other_hold_outs(small_dataset) -> None:
    first, second = make_split(small_dataset, ood=[], seed=0), make_split(small_dataset, ood=[], seed=1)
    assert (first.label, second.label) == ("s0", "s1")
    assert set(first.test_ids) != set(second.test_ids)


def test_saved_split_is_checked_against_its_data(small_dataset, tmp_path: Path) -> None:
    split = make_split(small_dataset, ood=[OODSpec("newest")])
    path = split.save(tmp_path / "split.json")
    Split.load(path).check_data(small_dataset, path)
    changed = dataclasses.replace(small_dataset, y=small_dataset.y + 0.01)
    with pytest.raises(DatasetError, match="other data"):
        Split.load(path).check_data(changed, path)
    changed_feature = small_dataset.X.copy()
    changed_feature[3, 2] += 1e-3 * np.nanmax(np.abs(changed_feature[:, 2]))
    with pytest.raises(DatasetError, match="other data"):
        Split.load(path).check_data(dataclasses.replace(small_dataset, X=changed_feature), path)
    # Features rebuilt on another CPU differ in their last bits only: the same data.
    last_bits = np.nextafter(small_dataset.X, np.inf)
    Split.load(path).check_data(dataclasses.replace(small_dataset, X=last_bits), path)
    # the OOD sets are rebuilt and compared too
    tampered = Split.load(path)
    tampered.ood_ids["newest"] = tampered.ood_ids["newest"][1:]
    with pytest.raises(DatasetError, match="ood newest"):
        tampered.rebuild(small_dataset)


def test_random_hold_out_follows_the_tables_row_order(small_dataset) -> None:
    """The hold-out is scikit-learn's train_test_split over the rows in file order (the authors' recipe),
    so a Zenodo table split with seed 0 gives the paper's own test set."""
    from sklearn.model_selection import train_test_split

    _, test_rows = train_test_split(np.arange(len(small_dataset)), test_size=0.1, random_state=0)
    split = make_split(small_dataset, ood=[])
    assert set(split.test_ids) == set(small_dataset.ids[test_rows])


def test_split_with_a_legacy_byte_checksum_is_read_with_a_warning(small_dataset, tmp_path: Path,
                                                                   caplog) -> None:
    split = make_split(small_dataset, ood=[])
    params = {key: value for key, value in split.params.items() if key != "data_checksum"}
    legacy = dataclasses.replace(split, params={**params, "dataset_sha256": "0" * 64})
    path = legacy.save(tmp_path / "split.json")
    with caplog.at_level("WARNING"):
        Split.load(path).check_data(small_dataset, path)
    assert "machine-dependent" in caplog.text

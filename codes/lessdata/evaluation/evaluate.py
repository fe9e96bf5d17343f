"""One evaluator for every selection method: train model M on subset S of the pool, score it everywhere.

Every method of the study (random draws, pruning, active learning) yields training subsets of the pool.
:func:`fit_and_score` fits a fresh model on one subset and scores it on the ID test set, on the unused
pool (pool minus the subset) and on every OOD set, returning rows of the long results table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lessdata import config
from lessdata import files as lio
from lessdata.data.datasets import Dataset, DatasetError, load_dataset, resolve
from lessdata.data.structures import parse_structure
from lessdata.errors import StructuresRequiredError
from lessdata.evaluation.metrics import metrics
from lessdata.experiments.store import PREDICTIONS_FIELD, PredictionStore, StoreLayout
from lessdata.models.factory import STRUCTURE_MODELS, make_model
from lessdata.splits.holdout import (
    OODSpec,
    Split,
    coverage,
    given_split_label,
    make_split,
    ood_eval_set,
    read_id_list,
    split_label,
)


@dataclass
class EvalSet:
    """Rows of one set (pool, ID test or an OOD set): ids, standardized features, targets, structures."""

    name: str
    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    structures: list[Any] | None = None
    _parsed: list[Any] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def model_input(self, model: str, rows: np.ndarray | None = None) -> Any:
        """What ``model`` consumes: the feature matrix, or parsed structures for graph models."""
        if model not in STRUCTURE_MODELS:
            return self.X if rows is None else self.X[rows]
        if self.structures is None:
            raise StructuresRequiredError(
                f"model {model!r} needs crystal structures, but this dataset is composition-only. "
                "Register a table with a structure column: `python codes/featurize.py --input FILE "
                "--name NAME --id-col C --structure-col C --targets T` (CIF/POSCAR text, pymatgen dict "
                "or jarvis Atoms dict), or use a paper dataset (e.g. --dataset jarvis22).")
        if self._parsed is None:
            self._parsed = [parse_structure(s) for s in self.structures]
        return self._parsed if rows is None else [self._parsed[i] for i in rows]


@dataclass
class ExperimentData:
    """A dataset prepared for experiments: the pool, the ID test set and the OOD sets."""

    dataset: Dataset
    split: Split
    pool: EvalSet
    test: EvalSet
    ood: dict[str, EvalSet]

    @property
    def eval_sets(self) -> dict[str, EvalSet]:
        """Sets a fitted model is scored on besides the unused pool (``id_test``, ``ood_<name>``)."""
        return {"id_test": self.test, **{ood_eval_set(name): s for name, s in self.ood.items()}}


def _subset(dataset: Dataset, name: str, ids: np.ndarray) -> EvalSet:
    rows = dataset.positions(ids)
    structures = [dataset.structures[i] for i in rows] if dataset.structures is not None else None
    return EvalSet(name, dataset.ids[rows], dataset.X[rows], dataset.y[rows], structures)


def prepare(dataset_name: str, target: str, *, ood: list[str] | None = None,
            split_dir: str | Path | None = None, progress: bool = False,
            split_seed: int = config.ID_SPLIT_SEED, id_test_ids: str | Path | None = None) -> ExperimentData:
    """Load a dataset and its split (made once and saved as JSON in ``split_dir``, reloaded after).

    Args:
        dataset_name: registry name.
        target: target column.
        ood: OOD splitter specs such as ``["newest"]`` (None: the dataset's default; ``[]``: none).
        split_dir: where the split JSON, the test-set truth and the coverage table live; a saved split is
            reused (after checking it was made from the same data), so every process and every rerun
            sees identical sets.
        progress: progress bars while featurizing.
        split_seed: seed of the random 90/10 ID hold-out (repeat with other seeds for split spread).
        id_test_ids: a file with one ID-test id per line (e.g. the authors' own hold-out) instead of a
            random hold-out.
    """
    dataset = load_dataset(dataset_name, target, progress=progress)
    specs = None if ood is None else [OODSpec.parse(text) for text in ood]
    given_test = None if id_test_ids is None else read_id_list(id_test_ids)
    label = split_label(split_seed) if given_test is None else given_split_label(given_test)
    layout = StoreLayout(split_dir) if split_dir else None
    split_path = layout.split(dataset.name, target, label) if layout else None
    if split_path is not None and split_path.exists():
        split = Split.load(split_path)
        split.check_data(dataset, split_path)
        wanted = None if specs is None else [[s.kind, s.value] for s in specs]
        if wanted is not None and wanted != split.params["ood"]:
            raise DatasetError(f"{split_path} was made with OOD sets {split.params['ood']}, not {wanted}; "
                               "use another --out folder or delete the split file")
    else:
        split = make_split(dataset, ood=specs, seed=split_seed, test_ids=given_test)
    newer = None
    if "version" in split.ood_ids:
        newer = load_dataset(resolve(dataset.name).newer, target, download=False)
    ood_sets = {}
    for name, ids in split.ood_ids.items():
        if name == "version":
            rows = newer.positions(ids)
            raw = newer.scaler.inverse_transform(newer.X[rows])
            structures = [newer.structures[i] for i in rows] if newer.structures is not None else None
            ood_sets[name] = EvalSet(name, ids, dataset.scaler.transform(raw), newer.y[rows], structures)
        else:
            ood_sets[name] = _subset(dataset, name, ids)
    data = ExperimentData(dataset, split, _subset(dataset, "pool", split.pool_ids),
                          _subset(dataset, "id_test", split.test_ids), ood_sets)
    if layout is not None and not split_path.exists():
        split.save(split_path)
        truth = {name: evaluation.y for name, evaluation in data.eval_sets.items()}
        truth_ids = {name: evaluation.ids for name, evaluation in data.eval_sets.items()}
        PredictionStore(layout).save_truth(dataset.name, target, label, truth, truth_ids)
        table = coverage(data.pool.X, data.test.X, {n: s.X for n, s in ood_sets.items()})
        table.insert(0, "split", label)
        table.insert(0, "target", target)
        table.insert(0, "dataset", dataset.name)
        lio.write_csv(layout.coverage(dataset.name, target, label), table)
    return data


def score_model(model: Any, model_name: str, data: ExperimentData, train_rows: np.ndarray, *,
                unused_predictions: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Score a fitted model on the ID test set, the unused pool and each OOD set.

    Args:
        unused_predictions: a dict to receive the predictions on the unused pool (``"rows"``: their
            pool positions, ascending; ``"predicted"``: the predictions), for a caller that needs them
            again (an active-learning query scores the same rows) and should not predict twice.

    Returns:
        One dict per evaluation set: eval_set, n_eval, mae, rmse, r2, predict_seconds, and for the ID test
        and OOD sets the predictions themselves (under :data:`lessdata.experiments.store.PREDICTIONS_FIELD`).
    """
    rows = []
    unused = np.setdiff1d(np.arange(len(data.pool)), train_rows, assume_unique=False)
    targets: list[tuple[str, EvalSet, np.ndarray | None]] = [
        (name, evaluation, None) for name, evaluation in data.eval_sets.items() if len(evaluation)]
    if len(unused):
        targets.insert(1, ("unused", data.pool, unused))
    for name, evaluation, subset in targets:
        started = time.perf_counter()
        predicted = np.asarray(model.predict(evaluation.model_input(model_name, subset)), dtype=float)
        truth = evaluation.y if subset is None else evaluation.y[subset]
        row = {"eval_set": name, "n_eval": int(len(truth)), **metrics(truth, predicted),
               "predict_seconds": round(time.perf_counter() - started, 3)}
        # the fixed sets; kept for intervals without refits (see lessdata.experiments.store)
        if subset is None:
            row[PREDICTIONS_FIELD] = predicted.astype(np.float32)
        elif unused_predictions is not None:
            unused_predictions.update(rows=subset, predicted=predicted)
        rows.append(row)
    return rows


def fit_and_score(model_name: str, data: ExperimentData, train_rows: np.ndarray, *,
                  profile: str = "quick", seed: int = 0, n_threads: int = 1, device: str = "cpu",
                  model: Any = None, unused_predictions: dict[str, np.ndarray] | None = None
                  ) -> tuple[list[dict], Any]:
    """Fit a fresh ``model_name`` on pool rows ``train_rows`` and score it everywhere.

    Args:
        model_name: ``xgb``, ``rf``, ``xgb_ibug`` or ``alignn``.
        data: prepared experiment data.
        train_rows: positions in the pool of the training subset.
        profile: hyperparameter profile.
        seed: the model's random_state.
        n_threads: threads for this fit.
        device: cpu / cuda / auto.
        model: an unfitted estimator to use instead of building one (e.g. a user's own).
        unused_predictions: receives the predictions on the unused pool (see :func:`score_model`).

    Returns:
        (rows, fitted model): rows carry train_size, fit_seconds and the metrics per evaluation set.
    """
    train_rows = np.asarray(train_rows, dtype=np.int64)
    if len(train_rows) == 0:
        raise ValueError("cannot train on an empty subset")
    if model is None:
        # The study trains every ALIGNN from seed 123 (the subset varies with the seed, the weights'
        # initialisation does not); tree models take the cell's seed.
        model = make_model(model_name, profile=profile, n_threads=n_threads,
                           random_state=None if model_name in STRUCTURE_MODELS else seed, device=device)
    started = time.perf_counter()
    model.fit(data.pool.model_input(model_name, train_rows), data.pool.y[train_rows])
    fit_seconds = time.perf_counter() - started
    if hasattr(model, "n_jobs") and model_name == "rf":
        # Threaded RF prediction sums trees in a racy order; one thread keeps scores bit-identical
        # whatever the number of workers.
        model.set_params(n_jobs=1)
    rows = score_model(model, model_name, data, train_rows, unused_predictions=unused_predictions)
    for row in rows:
        row.update(train_size=int(len(train_rows)), fit_seconds=round(fit_seconds, 3))
    return rows, model

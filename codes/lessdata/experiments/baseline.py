"""Random-subsampling baselines: training sets drawn uniformly from the pool at each size and seed.

For one seed the draws are nested (the first n of one seeded permutation of the pool), so a curve over
sizes isolates the effect of size from the luck of the draw; seeds give the spread.
"""

from __future__ import annotations

from collections.abc import Sequence

from lessdata import config
from lessdata.errors import LessdataError
from lessdata.experiments.runner import Cell, size_of
from lessdata.experiments.store import DEFAULT_SPLIT


def random_cells(dataset: str, target: str, models: Sequence[str], n_pool: int, *,
                 profile: str = "quick", fractions: Sequence[float] | None = None,
                 seeds: int | Sequence[int] | None = None, split: str = DEFAULT_SPLIT) -> list[Cell]:
    """Cells of the random baseline.

    Args:
        dataset: dataset name.
        target: target column.
        models: model names (``xgb``, ``rf``, ``alignn``).
        n_pool: pool size.
        profile: ``quick`` or ``paper`` (size grid and seeds per model).
        fractions: override the profile's size grid (each in (0, 1]).
        seeds: number of seeds, or explicit seeds (default: the profile's count per model).
        split: label of the ID hold-out split the pool belongs to.

    Raises:
        ValueError: a fraction outside (0, 1].
    """
    settings = config.profile(profile)
    grid = list(settings["size_grid"] if fractions is None else fractions)
    for fraction in grid:
        if not 0 < fraction <= 1:
            raise LessdataError(f"training fraction {fraction} is outside (0, 1]")
    cells = []
    for model in models:
        base_model = config.MODEL_VARIANT_OF.get(model, model)  # alignn_es: as many seeds as alignn
        model_seeds = seeds if seeds is not None else settings["seeds"].get(model, settings["seeds"].get(
            base_model, 1))
        seed_list = list(range(model_seeds)) if isinstance(model_seeds, int) else list(model_seeds)
        for seed in seed_list:
            for fraction in grid:
                cells.append(Cell(dataset, target, "random", "", model, seed, float(fraction),
                                  size_of(fraction, n_pool), split=split))
    return cells

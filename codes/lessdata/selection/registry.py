"""One record per selection method: what the CLI, the runner, the figures and the report know about it.

A method is a ``method`` value in ``scores.csv`` (``random``, ``prune``, a subset sampler or an
active-learning strategy); its :class:`Selector` holds the callable, models, label and help, added with
:func:`register`.  How a method is drawn lives apart, in :mod:`lessdata.reporting.styles`, keyed by its
name, so
a method needs no plotting decision to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lessdata import config
from lessdata.errors import LessdataError
from lessdata.reporting import styles
from lessdata.selection import samplers, strategies

#: Gaussian predictive distribution ``(models, X) -> (loc, scale)`` of an uncertainty strategy, for the
#: calibration diagnostics on the ID test set.
Distribution = Callable[[dict[str, Any], np.ndarray], tuple[np.ndarray, np.ndarray]]

KINDS = ("baseline", "pruning", "subset", "active")


class UnknownSelectorError(LessdataError):
    """A method or strategy name that is not registered."""


@dataclass(frozen=True)
class Selector:
    """A selection method.

    Attributes:
        name: the ``method`` of its rows in ``scores.csv`` and the name on the command line.
        kind: ``baseline``, ``pruning``, ``subset`` (a one-shot ordering of the pool, evaluated like
            random subsets) or ``active``.
        help: one line for ``--help`` and the report.
        short: the method's name in tables and text (the report, figure (f)); its ``name`` when empty.
            Its legend label and line style are in :mod:`lessdata.reporting.styles`.
        query: the query strategy (``active`` only), see :data:`lessdata.selection.strategies.QueryStrategy`.
        sampler: the ordering (``subset`` only), see :data:`lessdata.selection.samplers.Sampler`.
        models: models the query reads; ``xgb`` and ``rf`` come free from the step's evaluation, any
            other is fitted for the query.  Joined by "+" they are the ``selector`` of the rows.  For a
            subset sampler that reads a pruning order: the default guide.
        nested: a subset sampler's larger sets extend its smaller ones (one ordering serves every size).
        needs_pruning: a subset sampler that reads the guide's pruning order of the pool.
        from_paper: one of the study's methods (greyed in the comparison of selectors).
        distribution: Gaussian predictive distribution, for uncertainty strategies' calibration.
        ibug: :class:`~lessdata.models.ibug.IBUGRegressor` keywords when ``models`` holds ``xgb_ibug``.
        cost_rank: campaigns of lower rank run first (they take longest).
    """

    name: str
    kind: str
    help: str
    short: str = ""
    query: strategies.QueryStrategy | None = None
    sampler: samplers.Sampler | None = None
    models: tuple[str, ...] = ()
    distribution: Distribution | None = None
    ibug: dict[str, Any] | None = field(default=None, compare=False)
    cost_rank: int = 2
    nested: bool = True
    needs_pruning: bool = False
    from_paper: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.short, str):  # a record written when it carried its plot style
            raise LessdataError(f"selector {self.name!r}: short must be a label (str); a plot style goes to "
                                f"register(..., style=) or lessdata.reporting.styles")
        if self.kind not in KINDS:
            raise LessdataError(f"selector {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "active" and self.query is None:
            raise LessdataError(f"active-learning selector {self.name!r} needs a query function")
        if self.kind == "subset" and self.sampler is None:
            raise LessdataError(f"subset selector {self.name!r} needs a sampler function")

    @property
    def selector(self) -> str:
        """The ``selector`` column of an active-learning strategy's rows ("" for random)."""
        return "+".join(self.models)


_REGISTRY: dict[str, Selector] = {}


def register(selector: Selector, *, style: styles.MethodStyle | None = None,
             replace: bool = False) -> Selector:
    """Make a method known to every part of lessdata (returns it, so it can decorate a definition).

    Args:
        selector: the record.
        style: its legend label and line style in the figures, stored in :mod:`lessdata.reporting.styles`;
            without one it is drawn in :data:`lessdata.reporting.styles.DEFAULT_METHOD_STYLE`.
        replace: replace a record of the same name.

    Raises:
        LessdataError: the name is taken and ``replace`` is False.
    """
    if selector.name in _REGISTRY and not replace:
        raise LessdataError(f"a selector named {selector.name!r} is already registered")
    _REGISTRY[selector.name] = selector
    if style is not None:
        styles.set_method_style(selector.name, style)
    return selector


def unregister(name: str) -> None:
    """Forget a method (tests register and remove toy selectors)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Selector:
    """The record of a method.

    Raises:
        UnknownSelectorError: for an unregistered name, listing the registered ones.
    """
    if name not in _REGISTRY:
        raise UnknownSelectorError(f"unknown method or strategy {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def find(name: str) -> Selector | None:
    """The record of a method, or None (a results folder may hold rows of a method not loaded here)."""
    return _REGISTRY.get(name)


def names(kind: str | None = None) -> list[str]:
    """Registered names in registration order (the order of legends and tables), of one kind or all."""
    return [name for name, selector in _REGISTRY.items() if kind is None or selector.kind == kind]


def ordered(method_names: Iterable[str], known: Iterable[str] | None = None) -> list[str]:
    """Names in registration order (or ``known``'s, e.g. style keys), then the others sorted."""
    present = set(method_names)
    order = list(_REGISTRY if known is None else known)
    return [name for name in order if name in present] + sorted(present - set(order))


def kind_of(name: str) -> str:
    """Kind of a method; a name not registered here is read as an active-learning strategy's (a results
    folder may hold rows of a strategy registered only in the process that ran it)."""
    if name == "random":
        return "baseline"
    if name == "prune":
        return "pruning"
    selector = find(name)
    return "active" if selector is None else selector.kind


def short_label(name: str) -> str:
    """A method's name in tables and text: its record's ``short``, else the name itself."""
    selector = find(name)
    return selector.short if selector is not None and selector.short else name


def is_active(name: str) -> bool:
    """Whether rows of this method come from an active-learning campaign."""
    return kind_of(name) == "active"


def is_from_paper(name: str) -> bool:
    """Whether a method is one of the study's (random, pruning, QBC, RF-U, XGB-U)."""
    selector = find(name)
    return selector is not None and selector.from_paper


def check_subsets(requested: list[str] | tuple[str, ...]) -> None:
    """Refuse names that are not subset samplers.

    Raises:
        UnknownSelectorError: naming the first unknown one and the known samplers.
    """
    _check_known(requested, names("subset"), "subset sampler")


def strategy_names() -> list[str]:
    """Active-learning strategies, ``random`` first (random AL is the baseline's nested subsets)."""
    return ["random", *names("active")]


def check_strategies(requested: list[str] | tuple[str, ...]) -> None:
    """Refuse names that are not active-learning strategies (random included).

    Raises:
        UnknownSelectorError: naming the first unknown one and the known strategies.
    """
    _check_known(requested, strategy_names(), "strategy")


def _check_known(requested: Iterable[str], known: list[str], what: str) -> None:
    for name in requested:
        if name not in known:
            raise UnknownSelectorError(f"unknown {what} {name!r}; choose from {', '.join(known)}")


def query_of(name: str) -> strategies.QueryStrategy:
    """The query function of a strategy (``random`` -> the permutation prefix)."""
    return strategies.random_query if name == "random" else get(name).query  # type: ignore[return-value]


def models_of(name: str) -> tuple[str, ...]:
    """Models a strategy reads (none for ``random``)."""
    return () if name == "random" else get(name).models


# --------------------------------------------------------------------------------------------------
# The study's methods (Li et al., Nat Commun 14, 7283, 2023) and our variants.
# --------------------------------------------------------------------------------------------------
def _ibug_distribution(models: dict[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return models["xgb_ibug"].pred_dist(X)


register(Selector(
    "random", "baseline", "uniform random subsets of the pool (nested per seed; random AL is the same sets)",
    "random", cost_rank=3, from_paper=True))
register(Selector(
    "prune", "pruning", "the study's model-guided pruning: drop entries the guide model already predicts",
    "pruned", from_paper=True))
register(Selector(
    "qbc", "active", "query by committee: largest |RF - XGB| disagreement of the step's models",
    "QBC", query=strategies.qbc_query, models=strategies.COMMITTEE, cost_rank=2, from_paper=True))
register(Selector(
    "rf_u", "active", "RF-U: widest 5-95 % spread of the random forest's trees (the paper)",
    "RF-U", query=strategies.rf_uncertainty_query, models=("rf",),
    distribution=lambda models, X: strategies.forest_distribution(models["rf"], X, "percentile"),
    cost_rank=1, from_paper=True))
register(Selector(
    "rf_u_std", "active", "RF-U with the trees' standard deviation instead of the 5-95 % width",
    "RF-U (std)", query=strategies.rf_std_query, models=("rf",),
    distribution=lambda models, X: strategies.forest_distribution(models["rf"], X, "std"), cost_rank=1))
register(Selector(
    "xgb_u", "active", "XGB-U: largest IBUG scale, the authors' setting (k = 100, uncalibrated)",
    "XGB-U", query=strategies.xgb_uncertainty_query, models=("xgb_ibug",), distribution=_ibug_distribution,
    ibug=config.IBUG_PARAMS, cost_rank=0, from_paper=True))
register(Selector(
    "xgb_u_tuned", "active", "XGB-U with our tuned IBUG (k and the scale calibrated on a hold-out)",
    "XGB-U (tuned)", query=strategies.xgb_uncertainty_query, models=("xgb_ibug",),
    distribution=_ibug_distribution, ibug=config.IBUG_TUNED_PARAMS, cost_rank=0))


# --------------------------------------------------------------------------------------------------
# Beyond the study: selectors for small data, and the label-free samplers a user would try instead.
# --------------------------------------------------------------------------------------------------
register(Selector(
    "qbc_diverse", "active", "diverse QBC: the 10 x batch most-disputed rows, k-means into the batch, the "
         "row nearest each centre (Zhdanov 2019)",
    "QBC (diverse)", query=strategies.diverse_qbc_query, models=strategies.COMMITTEE, cost_rank=2))
register(Selector(
    "prune_cov", "subset", "pruning order read for coverage: an even share of every removal round "
         "(coverage-centric coreset selection), not only the last survivors",
    "pruned (stratified)", sampler=samplers.pruning_coverage_sampler, models=("xgb",), needs_pruning=True))
register(Selector(
    "kcenter", "subset", "k-center coverage: farthest-point traversal of the feature space (label-free)",
    "k-center", sampler=samplers.kcenter_sampler))
register(Selector(
    "direct", "subset", "lessdata's DIRECT variant: PCA, the n largest Birch leaf clusters, the entry "
         "nearest each centre (label-free; after Qi et al. 2024, whose method is direct_maml)",
    "DIRECT variant (largest leaves)", sampler=samplers.direct_sampler, nested=False))
register(Selector(
    "direct_maml", "subset", "DIRECT as published, with maml's components: PCA, Birch into exactly n "
         "clusters, the entry nearest each centre (label-free; Qi et al. 2024)",
    "DIRECT as published (maml)", sampler=samplers.direct_maml_sampler, nested=False))


def comparison_methods(scores: Any) -> list[str]:
    """Methods of figure (g) and the report's comparison: the study's first, then ours; [] without ours."""
    present = [m for m in ordered(scores["method"].unique())]
    if all(is_from_paper(m) for m in present):
        return []
    return ([m for m in present if is_from_paper(m)]
            + [m for m in present if not is_from_paper(m)])

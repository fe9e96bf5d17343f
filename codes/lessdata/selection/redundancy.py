"""Where the redundant data lies: removed against retained entries by element, number of elements,
formula (polymorph family), space group and crystal system, with exact tests.

A pruning run (:mod:`lessdata.selection.pruning`) orders the pool; at a retained fraction these tables
say which groups it removed more often than it kept, with a Fisher exact test per group, a confidence
interval on the enrichment and Benjamini-Hochberg q-values over the groups of a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lessdata.analysis.intervals import benjamini_hochberg
from lessdata.data.structures import parse_formula
from lessdata.errors import LessdataError
from lessdata.selection.pruning import first_round_within, retained_before

# --------------------------------------------------------------------------------------------------
# Where the redundant data lies
# --------------------------------------------------------------------------------------------------
#: Upper space-group number of each crystal system (International Tables ranges).
_CRYSTAL_SYSTEM_BOUNDS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
                          (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))


_ARITY_NAMES = {1: "unary", 2: "binary", 3: "ternary", 4: "quaternary", 5: "quinary", 6: "senary"}


#: A group is called over- or under-represented among the removed entries only when its Benjamini–Hochberg
#: q-value (over the groups of its table) is below this level.
SIGNIFICANCE_Q = 0.05


#: Columns :func:`enrichment_statistics` adds to every redundancy table.
ENRICHMENT_STAT_COLUMNS = ("enrichment_ci_low", "enrichment_ci_high", "p_value", "q_value", "significant")


_Z_95 = 1.959963984540054  # standard-normal 97.5 % quantile


def enrichment_statistics(n_removed: Sequence[int] | np.ndarray, n_retained: Sequence[int] | np.ndarray,
                          n_removed_total: int, n_retained_total: int) -> pd.DataFrame:
    """Is a group really more (or less) common among the removed entries than among the retained ones?

    The enrichment ``(n_removed / n_removed_total) / (n_retained / n_retained_total)`` of a group with a
    handful of entries is mostly noise, and a table of ~90 elements always has a few extreme ratios by
    chance.  Hence, for each group (row) of one table:

    * ``p_value``: two-sided Fisher exact test (``scipy.stats.fisher_exact``) of the 2x2 table
      ``[[n_removed, n_retained], [n_removed_total - n_removed, n_retained_total - n_retained]]``
      (in group / not in group x removed / retained), i.e. of "the group is as common among the removed
      as among the retained entries".  The p-value depends only on the two counts once the totals are
      fixed, so each distinct pair is tested once (the formula table has many small, repeated pairs).
    * ``q_value``: Benjamini–Hochberg adjusted p-value over all rows passed in (one table).
    * ``enrichment_ci_low``/``enrichment_ci_high``: 95 % log-ratio Wald (Katz) interval of the enrichment
      itself (a ratio of two proportions), ``exp(log r ± 1.96 sqrt(1/a - 1/A + 1/b - 1/B))``.  When a
      count is zero, 0.5 is added to every cell of the 2x2 table for the standard error; the bound on
      the side of the zero is then 0 (no removed entry) or ``inf`` (no retained entry).
    * ``significant``: ``q_value < SIGNIFICANCE_Q`` (0.05).

    With nothing removed or nothing retained there is nothing to compare: p = q = 1, interval NaN.

    Returns:
        A frame with :data:`ENRICHMENT_STAT_COLUMNS`, one row per input row, in input order.
    """
    removed_counts = np.asarray(n_removed, dtype=np.int64)
    retained_counts = np.asarray(n_retained, dtype=np.int64)
    if removed_counts.shape != retained_counts.shape or removed_counts.ndim != 1:
        raise ValueError("n_removed and n_retained must be 1-D arrays of equal length")
    if ((removed_counts < 0) | (retained_counts < 0) | (removed_counts > n_removed_total)
            | (retained_counts > n_retained_total)).any():
        raise ValueError("group counts must lie between 0 and the removed / retained totals")
    pairs = list(zip(removed_counts.tolist(), retained_counts.tolist(), strict=True))
    p_of_pair: dict[tuple[int, int], float] = {}
    for a, b in set(pairs):
        table = [[a, b], [n_removed_total - a, n_retained_total - b]]
        p_of_pair[(a, b)] = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    p_values = np.array([p_of_pair[pair] for pair in pairs], dtype=float)
    q_values = benjamini_hochberg(p_values)

    low = np.full(removed_counts.size, np.nan)
    high = np.full(removed_counts.size, np.nan)
    if n_removed_total > 0 and n_retained_total > 0:
        a, b = removed_counts.astype(float), retained_counts.astype(float)
        total_a, total_b = float(n_removed_total), float(n_retained_total)
        zero = (a == 0) | (b == 0)
        a_c, b_c = np.where(zero, a + 0.5, a), np.where(zero, b + 0.5, b)
        total_a_c, total_b_c = np.where(zero, total_a + 1.0, total_a), np.where(zero, total_b + 1.0, total_b)
        log_ratio = np.log(a_c / total_a_c) - np.log(b_c / total_b_c)
        half_width = _Z_95 * np.sqrt(np.maximum(1 / a_c - 1 / total_a_c + 1 / b_c - 1 / total_b_c, 0.0))
        low = np.where(a == 0, 0.0, np.exp(log_ratio - half_width))
        high = np.where(b == 0, np.inf, np.exp(log_ratio + half_width))
    return pd.DataFrame({"enrichment_ci_low": low, "enrichment_ci_high": high, "p_value": p_values,
                         "q_value": q_values, "significant": q_values < SIGNIFICANCE_Q})


def crystal_system(spacegroup_number: int) -> str:
    """Crystal system of an international space-group number (1-230).

    Raises:
        ValueError: for a number outside 1-230.
    """
    number = int(spacegroup_number)
    if not 1 <= number <= 230:
        raise LessdataError(f"space-group number must be in 1..230, got {spacegroup_number}")
    for upper, name in _CRYSTAL_SYSTEM_BOUNDS:
        if number <= upper:
            return name
    raise AssertionError("unreachable")  # pragma: no cover


def retained_mask(removal_round: np.ndarray, fraction: float | None = None) -> tuple[np.ndarray, int]:
    """Which pool entries are retained at a fraction (or at the end), from ``removal_round`` alone.

    The same definition as :meth:`PruningResult.retained_at` (:func:`first_round_within`).

    Returns:
        ``(mask, round_index)``; ``round_index`` is the round before which the mask holds (the number of
        rounds for the final set).

    Raises:
        ValueError: if pruning never reached ``fraction``.
    """
    removal_round = np.asarray(removal_round, dtype=np.int64)
    n_rounds = int(removal_round.max(initial=-1)) + 1
    if fraction is None:
        round_index = n_rounds
    else:
        removed_per_round = np.bincount(removal_round[removal_round >= 0], minlength=n_rounds)
        sizes = removal_round.size - np.concatenate([[0], np.cumsum(removed_per_round)])
        reached = first_round_within(sizes, fraction, removal_round.size)
        if reached is None:
            raise LessdataError(f"pruning stopped at {sizes[-1]} of {removal_round.size} entries and never "
                                f"reached fraction {fraction}")
        round_index = reached
    return retained_before(removal_round, round_index), round_index


def _parse_formulas(formulas: Sequence[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Reduced formula and sorted element symbols of each formula (each distinct formula parsed once).

    Parsing is :func:`lessdata.data.structures.parse_formula`, the one formula parser of the package.  Dummy
    symbols ("X", "Xx") are allowed: these tables only group entries by symbol, and they have always
    taken anything pymatgen's ``Composition`` parses.
    """
    cache: dict[str, tuple[str, tuple[str, ...]]] = {}
    reduced, elements = [], []
    for index, formula in enumerate(formulas):
        key = str(formula)
        if key not in cache:
            try:
                composition = parse_formula(key, allow_unknown_elements=True)
            except ValueError as error:
                raise LessdataError(f"formula {formula!r} at position {index} cannot be parsed ({error}); "
                                    f"fix or drop that entry") from error
            cache[key] = (composition.reduced_formula,
                          tuple(sorted(element.symbol for element in composition.elements)))
        reduced.append(cache[key][0])
        elements.append(cache[key][1])
    return reduced, elements


def _compare_groups(groups: pd.Series, removed: np.ndarray, group_name: str,
                    retained_fraction: float) -> pd.DataFrame:
    """Count and share of removed vs retained entries per group, the enrichment and whether it is real.

    ``groups`` may repeat an entry (exploded element lists): shares are per entry of each side, so for
    elements they say "fraction of removed entries that contain X" and need not sum to one.  Each entry
    is in a group or not, so every row is a proper 2x2 table for :func:`enrichment_statistics` (p, q,
    interval, ``significant``; q over the rows of this table).  ``retained_fraction`` is recorded in
    every row so that a table read on its own says at which point of pruning it was made.
    """
    n_removed_total = int(np.count_nonzero(removed))
    n_retained_total = int(removed.size - n_removed_total)
    frame = pd.DataFrame({group_name: groups.to_numpy(), "removed": removed[groups.index.to_numpy()]})
    counts = frame.groupby(group_name, sort=False)["removed"].agg(n_total="size", n_removed="sum")
    counts["n_removed"] = counts["n_removed"].astype(np.int64)
    counts["n_retained"] = counts["n_total"] - counts["n_removed"]
    with np.errstate(divide="ignore", invalid="ignore"):
        counts["share_removed"] = counts["n_removed"] / n_removed_total if n_removed_total else np.nan
        counts["share_retained"] = counts["n_retained"] / n_retained_total if n_retained_total else np.nan
        counts["enrichment"] = counts["share_removed"] / counts["share_retained"]
        counts["frac_removed"] = counts["n_removed"] / counts["n_total"]
    counts = counts.reset_index().sort_values(["n_total", group_name], ascending=[False, True],
                                              kind="stable").reset_index(drop=True)
    tested = enrichment_statistics(counts["n_removed"], counts["n_retained"], n_removed_total,
                                   n_retained_total)
    counts = pd.concat([counts, tested], axis=1)
    counts["retained_fraction"] = float(retained_fraction)
    return counts[[group_name, "n_total", "n_removed", "n_retained", "share_removed", "share_retained",
                   "enrichment", "frac_removed", *ENRICHMENT_STAT_COLUMNS, "retained_fraction"]]


def redundancy_composition(ids: Sequence[Any], formulas: Sequence[str], removal_round: np.ndarray, *,
                           spacegroups: Sequence[int] | None = None,
                           fraction: float | None = None) -> dict[str, pd.DataFrame]:
    """Compare the removed (redundant) and retained entries by chemistry and symmetry.

    The paper argues that the redundant data belongs to over-represented material types.  These tables
    make that measurable: for each group the counts among removed and retained entries, each side's share,
    ``enrichment = share_removed / share_retained`` (> 1: the group is over-represented among the removed
    entries; ``inf`` when no retained entry is in the group) and ``frac_removed`` (share of the group
    that was removed), plus whether the enrichment is more than chance (:func:`enrichment_statistics`:
    ``enrichment_ci_low``/``enrichment_ci_high`` (95 % log-ratio Wald interval), Fisher-exact
    ``p_value``, Benjamini–Hochberg ``q_value`` over the groups of the table, ``significant`` = q < 0.05)
    and the ``retained_fraction`` of the comparison.

    Compare at a meaningful point of pruning, e.g. the smallest pruned fraction that still predicts
    within 10 % of the full data: at the end (~300 kept of a large pool, the last rounds nearly random)
    almost everything is removed and the few kept entries make every ratio noisy.

    Args:
        ids: pool entry ids, aligned with ``formulas`` and ``removal_round``.
        formulas: chemical formulas (anything pymatgen's ``Composition`` parses).
        removal_round: :attr:`PruningResult.removal_round`.
        spacegroups: optional international space-group numbers (1-230); adds symmetry tables.
        fraction: compare at the round where the retained set first reached ``<= fraction * N`` (as
            :meth:`PruningResult.retained_at`, via :func:`retained_mask`); ``None`` compares at the end of
            pruning.  ``retained_fraction`` in every table is ``fraction``, or the final retained share
            ``n_retained / N`` when ``fraction`` is ``None``.

    Returns:
        Tidy frames keyed by name:

        * ``summary``: one row with ``fraction`` (NaN at the end), ``retained_fraction``, ``round``,
          ``n_pool``, ``n_removed``, ``n_retained`` and ``retained_share`` (``n_retained / n_pool``, at
          most ``retained_fraction`` since rounds remove entries in chunks).
        * ``entries``: one row per entry (id, formula, reduced formula, n_elements, removed,
          removal_round, spacegroup/crystal_system when given).
        * ``elements``: one row per element; counts are entries *containing* the element.
        * ``n_elements``: one row per number of elements (``arity`` 1, 2, ...; ``arity_name`` unary ...).
        * ``formulas``: one row per reduced formula (polymorph family): ``n_total`` entries with that
          formula, how many were removed and retained.
        * ``family_size``: entries grouped by the size of their polymorph family (1, 2, 3, ...), showing
          whether large families are pruned more.
        * ``spacegroups`` and ``crystal_systems``: when ``spacegroups`` is given.

    Raises:
        ValueError: for misaligned inputs, unparsable formulas, bad space groups or an unreached fraction.
    """
    removal_round = np.asarray(removal_round, dtype=np.int64)
    n_pool = removal_round.size
    ids_list, formulas_list = list(ids), list(formulas)
    if len(ids_list) != n_pool or len(formulas_list) != n_pool:
        raise LessdataError(f"ids ({len(ids_list)}), formulas ({len(formulas_list)}) and removal_round "
                            f"({n_pool}) must have one value per pool entry")
    mask_retained, round_index = retained_mask(removal_round, fraction)
    removed = ~mask_retained
    n_retained = int(np.count_nonzero(mask_retained))
    retained_fraction = n_retained / n_pool if fraction is None else float(fraction)
    reduced, elements = _parse_formulas(formulas_list)

    entries = pd.DataFrame({
        "id": ids_list,
        "formula": formulas_list,
        "reduced_formula": reduced,
        "n_elements": np.fromiter((len(e) for e in elements), dtype=np.int64, count=n_pool),
        "removed": removed,
        "removal_round": removal_round,
    })
    tables: dict[str, pd.DataFrame] = {}
    tables["summary"] = pd.DataFrame([{
        "fraction": np.nan if fraction is None else float(fraction),
        "retained_fraction": retained_fraction,
        "round": round_index,
        "n_pool": n_pool,
        "n_removed": n_pool - n_retained,
        "n_retained": n_retained,
        "retained_share": n_retained / n_pool if n_pool else np.nan,
    }])

    element_series = pd.Series(elements, index=pd.RangeIndex(n_pool)).explode()
    tables["elements"] = _compare_groups(element_series, removed, "element", retained_fraction)

    arity = _compare_groups(entries["n_elements"], removed, "arity", retained_fraction)
    arity = arity.sort_values("arity", kind="stable").reset_index(drop=True)
    arity.insert(1, "arity_name", [_ARITY_NAMES.get(int(n), f"{int(n)}-ary") for n in arity["arity"]])
    tables["n_elements"] = arity

    tables["formulas"] = _compare_groups(entries["reduced_formula"], removed, "reduced_formula",
                                         retained_fraction)
    family_size = entries.groupby("reduced_formula")["id"].transform("size").astype(np.int64)
    families = _compare_groups(family_size, removed, "family_size", retained_fraction)
    tables["family_size"] = families.sort_values("family_size", kind="stable").reset_index(drop=True)

    if spacegroups is not None:
        numbers = np.asarray(list(spacegroups))
        if numbers.size != n_pool:
            raise LessdataError(f"spacegroups has {numbers.size} values for {n_pool} pool entries")
        try:
            numbers = numbers.astype(np.int64)
            systems = [crystal_system(number) for number in numbers]
        except (ValueError, TypeError) as error:
            raise LessdataError(f"spacegroups must be integers 1..230: {error}") from error
        entries["spacegroup"] = numbers
        entries["crystal_system"] = systems
        groups = _compare_groups(entries["spacegroup"], removed, "spacegroup", retained_fraction)
        groups.insert(1, "crystal_system", [crystal_system(n) for n in groups["spacegroup"]])
        tables["spacegroups"] = groups
        tables["crystal_systems"] = _compare_groups(entries["crystal_system"], removed, "crystal_system",
                                                    retained_fraction)
    tables["entries"] = entries
    return tables

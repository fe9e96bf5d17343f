"""Figures and report from a real (small) study: plotted numbers equal the CSVs, styles, legibility, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Text

from lessdata.analysis import results as results_module
from lessdata.cli.scripts import (
    make_figures_main,
    prune_data_main,
    random_baseline_main,
    run_al_main,
    run_main,
)
from lessdata.reporting import breakdown_figures, figures, report, styles

COMMON = ["--dataset", "mp18_small", "--target", "e_form", "--no-progress"]
FAMILY_BINS = {"1": (1, 1), "2": (2, 2), "3": (3, 3), "4–5": (4, 5), "6–10": (6, 10), "> 10": (11, 10**9)}
LETTERS = {"a": "fig_a_id_performance", "b": "fig_b_unused_vs_id", "c": "fig_c_ood_vs_id",
           "d": "fig_d_active_learning", "e": "fig_e_redundancy", "f": "fig_f_al_diagnostics"}


@pytest.fixture(scope="module")
def study(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random baseline, XGB-guided pruning and all four AL strategies on mp18_small, then the figures."""
    root = tmp_path_factory.mktemp("figures_study")
    out, figs = root / "results", root / "figs"
    steps = [
        (random_baseline_main, ["--models", "xgb,rf", "--fractions", "0.05,0.2,1", "--seeds", "2"]),
        (prune_data_main, ["--guide", "xgb"]),
        (run_al_main, ["--strategies", "random,qbc,rf_u,xgb_u", "--seeds", "0", "--init-frac", "0.02",
                       "--step-frac", "0.04", "--stop-frac", "0.14"]),
        (make_figures_main, None),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LESSDATA_DATA_DIR", str(session_data_dir))
        for main, extra in steps:
            args = (["--results", str(out), "--out", str(figs), "--quiet"] if extra is None
                    else [*COMMON, *extra, "--out", str(out)])
            assert run_main(main, args) == 0
    return {"out": out, "figs": figs}


@pytest.fixture(scope="module")
def plots(study: dict[str, Path]) -> dict[str, figures.PlotResult]:
    """Every figure drawn again from the study's folder, by letter."""
    drawn = figures.make_all(results_module.load_results(study["out"]))
    by_name = {plot.name: plot for plot in drawn}
    return {letter: by_name[name] for letter, name in LETTERS.items()}


def _raw_scores(out: Path) -> pd.DataFrame:
    """scores.csv read independently of the package (empty selector kept as "")."""
    return pd.read_csv(out / "scores.csv", keep_default_na=False, na_values=[""],
                       dtype={"selector": str}).fillna({"selector": ""})


def _artists_by_gid(plot: figures.PlotResult) -> dict[tuple[int, str], list]:
    """Lines and bars of each panel, keyed by (panel index, gid)."""
    found: dict[tuple[int, str], list] = {}
    for index, ax in enumerate(plot.figure.axes):
        for artist in [*ax.lines, *ax.patches]:
            if artist.get_gid():
                found.setdefault((index, artist.get_gid()), []).append(artist)
    return found


def test_cli_writes_every_figure_and_the_report(study: dict[str, Path]) -> None:
    for name in LETTERS.values():
        png, pdf = study["figs"] / f"{name}.png", study["figs"] / f"{name}.pdf"
        assert png.stat().st_size > 10_000 and pdf.read_bytes().startswith(b"%PDF")
        assert mpimg.imread(png).shape[1] >= 3.3 * styles.PNG_DPI  # at least one column wide
    text = (study["out"] / "REPORT.md").read_text()
    for heading in ("## Headline", "## Datasets, cleaning and splits", "## Full-data accuracy",
                    "## How much data is needed", "## Unused pool vs ID test", "## Out-of-distribution",
                    "### OOD coverage", "## Active learning", "## Where the redundant data lies",
                    "## Wall times", "## Figures"):
        assert heading in text, heading
    assert "](../figs/fig_a_id_performance.png)" in text  # links relative to the report
    assert "| mp18_small | e_form | XGB |" in text


def test_plotted_lines_equal_the_csv_values(study: dict[str, Path],
                                            plots: dict[str, figures.PlotResult]) -> None:
    scores = _raw_scores(study["out"])
    for letter in ("a", "b", "c", "d"):
        plot = plots[letter]
        data = plot.data
        assert len(data) and plot.figure is not None
        for row in data.itertuples(index=False):
            rows = scores[(scores["dataset"] == row.dataset) & (scores["target"] == row.target)
                          & (scores["model"] == row.model) & (scores["method"] == row.method)
                          & (scores["selector"] == row.selector)]
            if row.method == "full_data":  # (d)'s band: the random baseline's full-pool mean
                full = scores[(scores["model"] == row.model) & (scores["method"] == "random")
                              & (scores["train_frac"] == 1.0) & (scores["eval_set"] == "id_test")]
                assert row.y == pytest.approx(full["rmse"].mean())
                continue
            at = rows[np.isclose(rows["train_frac"], row.train_frac)]
            if letter in ("a", "d"):
                values = at[at["eval_set"] == row.eval_set]["rmse"]
                assert row.x == pytest.approx(100 * row.train_frac)
                assert row.y == pytest.approx(values.mean()) and row.n == len(values)
                if row.method == "random" and len(values) > 1:
                    assert row.y_std == pytest.approx(values.std())
            else:  # (b), (c): ID-test RMSE on x, the other set's on y, means over seeds
                assert row.x == pytest.approx(at[at["eval_set"] == "id_test"]["rmse"].mean())
                assert row.y == pytest.approx(at[at["eval_set"] == row.eval_set]["rmse"].mean())
        # The frame is what the artists draw: same points, same order, in the recorded panel.
        artists = _artists_by_gid(plot)
        for (panel, gid), points in data[data["method"] != "full_data"].groupby(["panel", "gid"]):
            (line,) = artists[(panel, gid)]
            np.testing.assert_allclose(np.asarray(line.get_xdata(), float), points["x"])
            np.testing.assert_allclose(np.asarray(line.get_ydata(), float), points["y"])
    assert {"random", "prune", "qbc", "rf_u", "xgb_u"} <= set(plots["d"].data["method"])
    assert set(plots["c"].data["eval_set"]) == {"ood_newest"}


def test_redundancy_bars_equal_the_csv_values(study: dict[str, Path],
                                              plots: dict[str, figures.PlotResult]) -> None:
    plot = plots["e"]
    artists = _artists_by_gid(plot)
    assert set(plot.data["table"]) >= {"elements", "n_elements", "family_size"}
    for (panel, gid, table), bars in plot.data.groupby(["panel", "gid", "table"]):
        csv = pd.read_csv(study["out"] / "redundancy" / f"mp18_small_e_form_s0_xgb_{table}.csv",
                          keep_default_na=False, na_values=[""])
        column = {"elements": "element", "n_elements": "arity", "family_size": "family_size"}[table]
        if table == "family_size":  # drawn in bins of family size: summed counts, enrichment of the sums
            summary = pd.read_csv(study["out"] / "redundancy"
                                  / "mp18_small_e_form_s0_xgb_summary.csv").iloc[0]
            expected = {}
            for label in bars["group"]:  # the drawn bins (bins without kept entries are left out)
                low, high = FAMILY_BINS[label]
                part = csv[(csv["family_size"] >= low) & (csv["family_size"] <= high)]
                expected[label] = ((part["n_removed"].sum() / summary["n_removed"])
                                   / (part["n_retained"].sum() / summary["n_retained"]))
            expected = pd.Series(expected)
        else:
            expected = csv.set_index(csv[column].astype(str))["enrichment"]
        np.testing.assert_allclose(bars["y"], expected.loc[bars["group"]].to_numpy())
        patches = artists[(panel, gid)]  # bars grow from 1 to the value
        drawn = ([p.get_x() + p.get_width() for p in patches] if table == "elements"
                 else [p.get_y() + p.get_height() for p in patches])
        np.testing.assert_allclose(drawn, bars["y"])


def test_diagnostics_equal_the_csv_values(study: dict[str, Path],
                                          plots: dict[str, figures.PlotResult]) -> None:
    diagnostics = pd.read_csv(study["out"] / "al_diagnostics.csv")
    diagnostics = diagnostics[diagnostics["batch_size"] > 0]
    data = plots["f"].data
    assert set(data["method"]) == {"random", "qbc", "rf_u", "xgb_u"}
    for row in data.itertuples(index=False):
        rows = diagnostics[(diagnostics["strategy"] == row.method)
                           & np.isclose(diagnostics["train_frac"], row.train_frac)]
        assert row.y == pytest.approx(rows[row.eval_set].mean())


def test_one_style_per_model_and_method(plots: dict[str, figures.PlotResult]) -> None:
    for letter in ("a", "b", "c", "d"):
        plot = plots[letter]
        artists = _artists_by_gid(plot)
        for (panel, gid), points in plot.data[plot.data["method"] != "full_data"].groupby(["panel", "gid"]):
            (line,) = artists[(panel, gid)]
            model, key = points["model"].iloc[0], points["style"].iloc[0]
            assert to_hex(line.get_color()) == styles.MODEL_STYLES[model].color.lower()
            assert line.get_marker() == styles.MODEL_STYLES[model].marker
            assert line.get_fillstyle() == styles.method_style(key).fillstyle
    assert set(plots["a"].data["style"]) >= {"random", "prune", "prune_transfer"}


def test_figures_are_legible(plots: dict[str, figures.PlotResult]) -> None:
    for plot in plots.values():
        texts = [t for t in plot.figure.findobj(Text) if t.get_text().strip() and t.get_visible()]
        assert texts and min(t.get_fontsize() for t in texts) >= 8, plot.name
        width = plot.figure.get_figwidth()
        n_columns = max(ax.get_subplotspec().get_gridspec().ncols for ax in plot.figure.axes)
        assert width / n_columns == pytest.approx(styles.PANEL_SIZE[0])
        for ax in plot.figure.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.has_data()
            # A y label with the unit, or (shared y axes in (d)) one on the row's first panel.
            labels = [a.get_ylabel() for a in ax.get_shared_y_axes().get_siblings(ax)]
            assert any(labels)
            if plot.name in (LETTERS["a"], LETTERS["b"], LETTERS["c"], LETTERS["d"]):
                assert any("eV/atom" in label for label in labels)  # e_form RMSE unit


def test_missing_active_learning_is_skipped_with_a_note(study: dict[str, Path], small_env: Path,
                                                        tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    shutil.copytree(study["out"], out)
    scores = _raw_scores(out)
    scores[scores["method"].isin(["random", "prune"])].to_csv(out / "scores.csv", index=False)
    (out / "al_diagnostics.csv").unlink()
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / f"{LETTERS['d']}.png").write_bytes(b"stale")  # from an earlier run: must not survive
    assert run_main(make_figures_main, ["--results", str(out), "--out", str(figs)]) == 0
    printed = capsys.readouterr().out
    assert "# lessdata report" in printed and "run codes/run_al.py" in printed
    assert (figs / f"{LETTERS['a']}.png").exists() and (figs / f"{LETTERS['e']}.png").exists()
    assert not (figs / f"{LETTERS['d']}.png").exists() and not (figs / f"{LETTERS['f']}.pdf").exists()
    text = (out / "REPORT.md").read_text()
    assert "No active-learning rows" in text and "not drawn" in text


def test_report_sets_paper_numbers_beside_corresponding_datasets(study: dict[str, Path]) -> None:
    results = results_module.load_results(study["out"])
    text = report.build_report(results, paper_names={"mp18_small": "MP18"})
    assert "0.121 (MP18)" in text and "0.160 (MP18)" in text  # full-data XGB and RF, e_form
    assert "~4–7× (MP18, version OOD)" in text
    assert "mp18_small ↔ MP18" in text
    plain = report.build_report(results)
    assert "None of these datasets is one of the paper's" in plain
    assert "composition-only" in report.DIFFERENCES["mp18_comp"]


def test_pruning_tables_are_found_through_the_store_layout(study: dict[str, Path]) -> None:
    """Names with underscores (mp18_small, e_form) need no parsing: the paths come from StoreLayout."""
    results = results_module.load_results(study["out"])
    assert set(results.prune_rounds) == {("mp18_small", "e_form", "xgb")}
    assert set(results.redundancy) == {("mp18_small", "e_form", "xgb")}
    assert {"elements", "n_elements", "summary"} <= set(results.redundancy[("mp18_small", "e_form", "xgb")])


def test_no_results_folder_exits_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing"
    assert run_main(make_figures_main, ["--results", str(missing), "--out", str(tmp_path)]) == 2
    assert "no results in" in capsys.readouterr().err
    assert not missing.exists()


def test_selector_colours_follow_the_registry_and_unregistered_ones_come_after() -> None:
    registered = ["qbc_diverse", "direct", "kcenter"]
    alone = breakdown_figures.selector_colours(["kcenter"], registered)
    together = breakdown_figures.selector_colours(["direct", "kcenter", "mine", "yours"], registered)
    assert alone["kcenter"] == together["kcenter"] == styles.SELECTOR_COLORS[2]
    # Two unregistered selectors: the first free slots, distinct from every registered colour.
    assert [together["mine"], together["yours"]] == list(styles.SELECTOR_COLORS[3:5])

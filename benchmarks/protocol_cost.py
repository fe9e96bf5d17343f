"""Where the time of a study goes, read from its results folder (no model is refitted).

Every script writes a manifest with its wall time; every cell stores its fit and prediction seconds in
``scores.csv``; every pruning round its guide fit in ``prune_rounds_*.csv``; every active-learning step
its fits, query and diagnostics in ``al_diagnostics.csv``.  This script adds them up per stage and per
model and size, so the protocol's cost is a measurement of the runs that made the folder.

The walls are as run: a stage that shared the machine with other work took longer than it would alone
(the manifests say when each ran).  Fit seconds are per cell, so with two worker processes the wall is
about half their sum.

A folder run across several sittings (the process ended with a session and resumed in the next) may
keep a ledger, ``sittings.txt``, with one line per sitting ``sitting N counted START .. END`` (ISO
times, the span whose work was kept); its sum is the measured wall of the whole run, which the
manifests alone miss when a process was ended before it could write one.

``--project`` adds what the whole protocol of the folder's profile would take on this machine, from the
same measurements: every random-subset and pruning-evaluation cell at the measured mean cost of its
model and size class, every active-learning step at the measured mean step time of its strategy and
size class (``--al-seeds`` campaigns per strategy; a random campaign's steps on the baseline's grid
are free, since it reuses the baseline's cells), the pruning orders as measured, and the cell and
step seconds divided by ``--n-jobs`` (the workers run side by side).  It is a projection: a stage that
has not run is priced by the stages that did.

Example::

    .venv/bin/python benchmarks/protocol_cost.py --results results/paper_mp18_comp
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lessdata import config
from lessdata import files as io
from lessdata.experiments.store import StoreLayout
from lessdata.selection.registry import kind_of

BENCH_DIR = Path(__file__).resolve().parent
SIZE_BINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0)
STAGES = {"prune_data": "pruning (order + evaluation)", "random_baseline": "random subsets",
          "run_al": "active learning", "select_subsets": "subset samplers"}


def size_bin(fraction: float) -> str:
    """The size class of a training fraction, e.g. ``10-20 %``."""
    for low, high in zip(SIZE_BINS, SIZE_BINS[1:], strict=False):
        if fraction <= high + 1e-9:
            return f"{100 * low:g}-{100 * high:g} %"
    return "100 %"


def stage_walls(manifests: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for manifest in manifests:
        config = manifest.get("config") or {}
        rows.append({"run": manifest["file"], "script": manifest.get("script", ""),
                     "written": manifest.get("written", ""),
                     "wall_seconds": float((manifest.get("timings") or {}).get("wall_seconds") or 0.0),
                     "n_jobs": config.get("n_jobs"),
                     "detail": str(config.get("strategies") or config.get("guide")
                                   or config.get("models") or "")})
    return pd.DataFrame(rows)


SITTING_LINE = re.compile(r"^sitting (\d+) counted (\S+) \.\. (\S+)")


def sittings(ledger: Path) -> list[dict[str, Any]]:
    """The kept span of each sitting from a ledger's ``sitting N counted START .. END`` lines."""
    rows = []
    for number, line in enumerate(ledger.read_text().splitlines(), 1):
        match = SITTING_LINE.match(line)
        if not match:
            continue
        try:
            start, end = (datetime.fromisoformat(value.replace("Z", "+00:00")) for value in match.group(2, 3))
        except ValueError as error:
            raise ValueError(f"{ledger}, line {number}: {error}; write ISO times such as "
                             "2026-12-02T16:06:13Z") from None
        rows.append({"sitting": int(match.group(1)), "start": match.group(2), "end": match.group(3),
                     "seconds": (end - start).total_seconds()})
    return rows


def cell_cost(scores: pd.DataFrame) -> pd.Series:
    """Mean seconds of one evaluation cell (fit + predictions) per (model, size class), from ``scores``."""
    per_cell = scores.groupby(["model", "size", "method", "selector", "seed", "train_frac"])[
        ["fit_seconds", "predict_seconds"]].sum().sum(axis=1).rename("seconds").reset_index()
    return per_cell.groupby(["model", "size"])["seconds"].mean()


def project(scores: pd.DataFrame, diagnostics: pd.DataFrame, guide: dict[str, Any], profile: str,
            al_seeds: int, n_jobs: int) -> dict[str, Any]:
    """Seconds the profile's whole protocol would take, priced by this folder's measured cells and steps."""
    settings = config.profile(profile)
    costs = cell_cost(scores)
    grid = list(settings["size_grid"])

    def cells_seconds(model: str, fractions: list[float]) -> float:
        return float(sum(costs.get((model, size_bin(f)), np.nan) for f in fractions))

    random_seconds = sum(settings["seeds"][m] * cells_seconds(m, grid) for m in ("xgb", "rf"))
    order_seconds, pruning_seconds = 0.0, 0.0
    for info in guide.values():
        order_seconds += info["round_seconds"]
        sizes = info["retained_fractions"]
        pruning_seconds += sum(cells_seconds(m, sizes) for m in ("xgb", "rf"))
    al_seconds, per_strategy = 0.0, {}
    al = settings["al"]
    steps = np.arange(al["init_frac"], al["stop_frac"] + 1e-9, al["step_frac"])
    if not diagnostics.empty:
        step_cost = diagnostics.assign(size=diagnostics["train_frac"].map(size_bin)).groupby(
            ["strategy", "size"])["step_seconds"].mean()
        # A random campaign does not refit the steps the random baseline has stored (the same cells):
        # for seeds the baseline runs for both evaluated models, its steps on the baseline's grid are free.
        on_grid = {round(f, 6) for f in grid}
        baseline_seeds = min(settings["seeds"]["xgb"], settings["seeds"]["rf"])
        for strategy in ("random", "qbc", "rf_u", "xgb_u"):
            def steps_seconds(fractions: Any, strategy: str = strategy) -> float:
                return float(sum(step_cost.get((strategy, size_bin(f)), np.nan) for f in fractions))

            seconds = al_seeds * steps_seconds(steps)
            if strategy == "random":
                seconds -= min(al_seeds, baseline_seeds) * steps_seconds(
                    [f for f in steps if round(float(f), 6) in on_grid])
            per_strategy[strategy] = seconds
            al_seconds += seconds
    parallel = (random_seconds + pruning_seconds + al_seconds) / n_jobs
    return {"profile": profile, "n_jobs": n_jobs, "al_seeds_per_strategy": al_seeds,
            "random_cell_seconds": random_seconds, "pruning_eval_cell_seconds": pruning_seconds,
            "pruning_order_seconds": order_seconds, "al_step_seconds": per_strategy,
            "wall_seconds": order_seconds + parallel, "wall_hours": (order_seconds + parallel) / 3600,
            "note": "projection from this folder's measured costs; nan where a size class was never measured"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, required=True, help="a study's results folder")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report (default: benchmarks/results/protocol_cost_<folder>.json)")
    parser.add_argument("--target", default=None,
                        help="the target whose protocol to price (needed when the folder holds several)")
    parser.add_argument("--project", action="store_true",
                        help="also project the whole protocol of the folder's profile (see above)")
    parser.add_argument("--al-seeds", type=int, default=2, help="campaigns per strategy in the projection")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes in the projection")
    parser.add_argument("--order-seconds", default="",
                        help="GUIDE=SECONDS,... measured pruning-order walls that replace the folder's "
                             "(e.g. xgb=652 from bench_paper_cost.py on an idle machine)")
    args = parser.parse_args(argv)
    layout = StoreLayout(args.results)
    if not layout.scores.is_file():
        parser.error(f"{layout.scores} does not exist: point --results at a study's folder")
    out = args.out or BENCH_DIR / "results" / f"protocol_cost_{args.results.resolve().name}.json"
    manifests = [{**io.read_json(path), "file": path.name} for path in layout.manifests()]
    all_scores = io.read_results_csv(layout.scores, [])
    diagnostics = (io.read_results_csv(layout.al_diagnostics, []) if layout.al_diagnostics.is_file()
                   else pd.DataFrame())

    targets = sorted(all_scores["target"].astype(str).unique())
    target = args.target or (targets[0] if len(targets) == 1 else None)
    if target is None or target not in targets:
        parser.error(f"{layout.scores} holds targets {targets}: choose one with --target")
    all_scores = all_scores[all_scores["target"].astype(str) == target]
    if not diagnostics.empty:
        diagnostics = diagnostics[diagnostics["target"].astype(str) == target]
    manifests = [m for m in manifests if m.get("config", {}).get("target", target) == target]

    walls = stage_walls(manifests)
    by_script = walls.groupby("script")["wall_seconds"].agg(["sum", "count"]).reset_index()

    scores = all_scores[all_scores["eval_set"] == "id_test"].copy()
    scores["kind"] = scores["method"].map(kind_of)
    scores["size"] = scores["train_frac"].map(size_bin)
    fits = (scores.groupby(["kind", "model", "size"])["fit_seconds"].agg(["sum", "count", "mean"])
            .reset_index().rename(columns={"sum": "fit_seconds", "count": "fits", "mean": "seconds_per_fit"}))
    unused = all_scores[all_scores["eval_set"] == "unused"]
    predict = {"id_test_seconds": float(scores["predict_seconds"].sum()),
               "unused_pool_seconds": float(unused["predict_seconds"].sum())}

    guide = {}
    for path in sorted(layout.root.glob(f"prune_rounds_*_{target}_*.csv")):
        frame = io.read_csv(path)
        final = (frame["size_before"].iloc[-1] - frame["n_removed"].iloc[-1]) / frame["size_before"].iloc[0]
        guide[path.stem.removeprefix("prune_rounds_")] = {
            "rounds": int(len(frame)), "fit_seconds": float(frame["fit_seconds"].sum()),
            "round_seconds": float(frame["seconds"].sum()),
            "retained_fractions": [*frame["fraction_before"].tolist(), float(final)]}

    al: dict[str, Any] = {}
    if not diagnostics.empty:
        columns = [c for c in diagnostics.columns if c.endswith("_seconds")]
        al = {strategy: {"steps": int(len(group)), "seeds": sorted(int(s) for s in group["seed"].unique()),
                         **{c: float(group[c].sum()) for c in columns}}
              for strategy, group in diagnostics.groupby("strategy")}

    replaced = dict(item.split("=", 1) for item in args.order_seconds.split(",") if item)
    for name, info in guide.items():
        for key, seconds in replaced.items():
            if name.endswith(f"_{key}"):
                info["round_seconds_as_run"], info["round_seconds"] = info["round_seconds"], float(seconds)
    ledger = layout.root / "sittings.txt"
    kept = sittings(ledger) if ledger.is_file() else []
    report = {
        "results": str(args.results),
        "target": target,
        "sittings": kept,
        "measured_wall_seconds": sum(row["seconds"] for row in kept) if kept else None,
        "stage_wall_seconds": {STAGES.get(row.script, row.script): {"seconds": float(row.sum),
                                                                    "runs": int(row.count)}
                               for row in by_script.itertuples()},
        "total_wall_seconds": float(walls["wall_seconds"].sum()) if len(walls) else 0.0,
        "runs": walls.to_dict(orient="records"),
        "fits_by_kind_model_size": fits.to_dict(orient="records"),
        "pruning_guide": guide,
        "prediction": predict,
        "active_learning_steps": al,
        "note": "walls as run (some stages shared the machine); fit seconds are per cell, summed over the "
                "worker processes",
    }
    if args.project:
        settings_file = layout.settings
        profile = io.read_json(settings_file).get("profile", "paper") if settings_file.is_file() else "paper"
        report["projection"] = project(scores, diagnostics, guide, profile, args.al_seeds, args.n_jobs)
        projection = report["projection"]
        print(f"projected whole {profile} protocol: {projection['wall_hours']:.2f} h on this machine "
              f"({args.n_jobs} jobs, {args.al_seeds} AL seeds per strategy)", file=sys.stderr)
    io.write_json(out, report)
    total = report["total_wall_seconds"]
    print(f"{args.results}: {total:,.0f} s of stage walls ({total / 3600:.2f} h) over {len(walls)} runs",
          file=sys.stderr)
    if kept:
        measured = report["measured_wall_seconds"]
        print(f"measured wall over {len(kept)} sitting(s) ({ledger.name}): {measured:,.0f} s "
              f"({measured / 3600:.2f} h)", file=sys.stderr)
    for stage, value in report["stage_wall_seconds"].items():
        print(f"  {stage:32s} {value['seconds']:9,.0f} s in {value['runs']} run(s)", file=sys.stderr)
    for strategy, value in al.items():
        query, step = value.get("query_seconds", np.nan), value.get("step_seconds", np.nan)
        print(f"  AL {strategy:12s} {value['steps']:4d} steps: query {query:8,.0f} s, step {step:8,.0f} s",
              file=sys.stderr)
    print(f"  prediction: ID test {predict['id_test_seconds']:,.0f} s, unused pool "
          f"{predict['unused_pool_seconds']:,.0f} s (cell seconds)", file=sys.stderr)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

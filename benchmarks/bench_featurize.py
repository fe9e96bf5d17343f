"""Benchmark the 273 structure features: matminer as it is against one shared tessellation per structure.

Both sides run :func:`lessdata.features.featurize.featurize_structures` on the same real OQMD-ICSD crystals
(a seeded random sample of the embedded ``oqmd_icsd`` table) with the same worker processes and no
cache; the only difference is ``share_tessellations`` (:mod:`lessdata.features.voronoi`).  Reported: wall time
of each side and their ratio (one run, same machine, the sides alternating block by block), the largest
absolute and relative difference over every value, whether the NaN pattern and the failure lists
agree, and the load average before each side (a busy machine is visible in the JSON).

``--wrap-check`` also counts the sampled structures whose whole-cell tessellation fails when sites
are wrapped with pymatgen's plain ``to_unit_cell`` (a coordinate can land on exactly 1.0) against
lessdata's wrap (:func:`lessdata.data.structures.parse_structure`).

Example (about 12 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_featurize.py --n-structures 500 --n-jobs 2 --wrap-check
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.analysis.local_env import VoronoiNN
from pymatgen.core import Structure

from lessdata import files as io
from lessdata.data import builders
from lessdata.data.structures import parse_structure
from lessdata.features.cache import StructureFeatureStore
from lessdata.features.featurize import featurize_structures

BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-structures", type=int, default=500, help="structures sampled")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes, both sides")
    parser.add_argument("--block", type=int, default=100, help="structures per alternating block")
    parser.add_argument("--wrap-check", action="store_true",
                        help="also count tessellation failures under pymatgen's plain wrap")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_featurize.json")
    return parser.parse_args(argv)


def sample_structures(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Ids and pymatgen JSON of ``n`` random ``oqmd_icsd`` entries (the table is built if missing)."""
    table = pd.read_parquet(builders.build_oqmd_icsd())
    rows = np.random.default_rng(seed).choice(len(table), size=min(n, len(table)), replace=False)
    picked = table.iloc[np.sort(rows)]
    return list(picked.index), list(picked["structure"])


def plain_wrap_failures(texts: list[str]) -> dict[str, int]:
    """Whole-cell tessellation failures with pymatgen's own wrap against lessdata's."""
    counts = {"plain_wrap_failed": 0, "lessdata_wrap_failed": 0}
    for text in texts:
        raw = Structure.from_str(text, fmt="json")
        plain = Structure.from_sites(raw, to_unit_cell=True)
        for name, structure in (("plain_wrap_failed", plain), ("lessdata_wrap_failed", parse_structure(raw))):
            try:
                VoronoiNN(weight="area").get_all_voronoi_polyhedra(structure)
            except Exception:  # counted, as the featurizers would record it
                counts[name] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    ids, texts = sample_structures(args.n_structures, args.seed)
    structures = [parse_structure(text) for text in texts]
    # Sides alternate over blocks (as-is first in even blocks, shared first in odd ones), so a load
    # that comes and goes on a shared machine falls on both sides alike.
    blocks = [list(range(start, min(start + args.block, len(structures))))
              for start in range(0, len(structures), args.block)]
    sides: dict[str, dict] = {name: {"seconds": 0.0, "loads": [], "parts": []}
                              for name in ("matminer_as_is", "shared_tessellations")}
    for number, block in enumerate(blocks):
        order = [("matminer_as_is", False), ("shared_tessellations", True)]
        for name, shared in order if number % 2 == 0 else order[::-1]:
            sides[name]["loads"].append(os.getloadavg()[0])
            started = time.perf_counter()
            part = featurize_structures([structures[row] for row in block], cache_dir=None, progress=False,
                                        n_jobs=args.n_jobs, share_tessellations=shared)
            sides[name]["seconds"] += time.perf_counter() - started
            part.failures["row"] = [block[row] for row in part.failures["row"]]
            sides[name]["parts"].append(part)
        print(f"block {number + 1}/{len(blocks)}: " + ", ".join(
            f"{name} {side['seconds']:.1f} s" for name, side in sides.items()), flush=True)
    for side in sides.values():
        side["features"] = pd.concat([part.features for part in side["parts"]], ignore_index=True)
        side["failures"] = pd.concat([part.failures for part in side["parts"]], ignore_index=True)
    reference = sides["matminer_as_is"]["features"].to_numpy()
    fast = sides["shared_tessellations"]["features"].to_numpy()
    both = ~np.isnan(reference) & ~np.isnan(fast)
    difference = np.abs(reference - fast)[both]
    relative = difference / np.maximum(np.abs(reference[both]), 1e-300)
    failures = {name: sorted(side["failures"]["row"].tolist()) for name, side in sides.items()}
    report = {
        "n_structures": len(structures),
        "seed": args.seed,
        "n_jobs": args.n_jobs,
        "atoms_per_cell": {"median": float(np.median([len(s) for s in structures])),
                           "max": int(max(len(s) for s in structures))},
        "seconds": {name: round(side["seconds"], 1) for name, side in sides.items()},
        "blocks": len(blocks),
        "load_average_before_blocks": {name: [round(load, 2) for load in side["loads"]]
                                       for name, side in sides.items()},
        "speedup": round(sides["matminer_as_is"]["seconds"] / sides["shared_tessellations"]["seconds"], 2),
        "max_abs_difference": float(difference.max()) if difference.size else 0.0,
        "max_rel_difference": float(relative.max()) if relative.size else 0.0,
        "same_nan_pattern": bool((np.isnan(reference) == np.isnan(fast)).all()),
        "failed_rows": {name: len(rows) for name, rows in failures.items()},
        "same_failures": failures["matminer_as_is"] == failures["shared_tessellations"],
        "failure_reasons": sides["matminer_as_is"]["failures"]["error"].str.slice(0, 100)
        .value_counts().to_dict(),
        "versions": StructureFeatureStore.installed_versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.wrap_check:
        report["wrap_check"] = plain_wrap_failures(texts)
    io.write_json(args.out, report)
    print(f"speedup {report['speedup']}x, max |difference| {report['max_abs_difference']:.3g}, "
          f"same NaN pattern {report['same_nan_pattern']}, same failures {report['same_failures']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

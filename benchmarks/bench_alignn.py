"""Benchmark ALIGNN: graph building, training and prediction cost per structure.

Three numbers decide what an ALIGNN study costs: building a structure's graph (once, then cached),
training (per structure per epoch: a fit costs that x training rows x epochs) and predicting (per
structure, for every evaluation set).  This script measures them for the ``quick`` profile's model
(width 64/32, batch 16) and the paper's (width 256/64, batch 32), and compares our graph builder (cached
crystal graph, line graph at batch time) with alignn's ``build_pure_torch_graph``.

Data: real crystals that ship with the installed packages -- ase's 8 mineral CIFs, pymatgen's bundled
test structures (ordered ones) and ase's elemental crystals at experimental lattice constants --
repeated to ``--n-structures``.  ``--min-atoms`` enlarges cells into supercells to mimic datasets with
larger cells (Materials Project entries average ~30 atoms; these average ~7).  Epoch and predict times
are wall-clock on a possibly shared machine: the load average is recorded with the results.

Example::

    .venv/bin/python benchmarks/bench_alignn.py --n-structures 64 --epochs 3 --n-threads 2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import ase
import numpy as np
import pymatgen.util
import torch
from alignn.torch_graph_builder import build_pure_torch_graph
from ase.build import bulk
from jarvis.core.atoms import Atoms as JarvisAtoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from lessdata import config
from lessdata import files as io
from lessdata.models.alignn import ALIGNNRegressor, GraphCache, build_graph, clear_graph_cache
from lessdata.models.factory import available_cores

BENCH_DIR = Path(__file__).resolve().parent
MINERALS = Path(ase.__file__).parent / "test" / "testdata" / "minerals"
PYMATGEN_STRUCTURES = Path(pymatgen.util.__file__).parent / "structures"
ELEMENTS = ("Li Be C Na Mg Al Si K Ca Sc Ti V Cr Fe Co Ni Cu Zn Ge As Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag "
            "Cd In Sn Sb Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl "
            "Pb Bi Po Ac Th").split()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-structures", type=int, default=64, help="structures trained and predicted")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit (first is warm-up)")
    parser.add_argument("--profiles", default="quick,paper",
                        help="comma-separated profiles whose ALIGNN size is timed")
    parser.add_argument("--min-atoms", type=int, default=0,
                        help="make supercells until each structure has at least this many atoms")
    parser.add_argument("--n-threads", type=int, default=available_cores(), help="torch threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench_alignn.json",
                        help="JSON results file")
    args = parser.parse_args(argv)
    if args.n_structures < 2 or args.epochs < 1 or args.n_threads < 1 or args.min_atoms < 0:
        parser.error("need --n-structures >= 2, --epochs >= 1, --n-threads >= 1, --min-atoms >= 0")
    unknown = set(args.profiles.split(",")) - set(config.PROFILES)
    if unknown:
        parser.error(f"unknown profile(s) {sorted(unknown)}; choose from {sorted(config.PROFILES)}")
    return args


def real_structures(n: int, min_atoms: int) -> list[Structure]:
    """``n`` real crystals (cycled), each grown into a supercell of at least ``min_atoms`` atoms."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CIF rounding notes
        pool = [Structure.from_file(p) for p in sorted(MINERALS.glob("*.cif"))]
        pool += [s for s in (Structure.from_file(p) for p in sorted(PYMATGEN_STRUCTURES.glob("*.json")))
                 if s.is_ordered]
    pool += [AseAtomsAdaptor.get_structure(bulk(symbol)) for symbol in ELEMENTS]
    grown = []
    for structure in pool:
        structure = structure.copy()
        while len(structure) < min_atoms:  # double along the shortest lattice vector
            scale = [1, 1, 1]
            scale[int(np.argmin(structure.lattice.abc))] = 2
            structure.make_supercell(scale)
        grown.append(structure)
    return [grown[i % len(grown)] for i in range(n)]


def time_graphs(structures: list[Structure]) -> dict[str, float]:
    """ms per structure: our builder, alignn's build_pure_torch_graph, cache hits (memory, disk)."""
    unique = list({id(s): s for s in structures}.values())
    build_graph(unique[0])
    start = time.perf_counter()
    graphs = [build_graph(s) for s in unique]
    ours = (time.perf_counter() - start) / len(unique)

    atoms = [JarvisAtoms(lattice_mat=s.lattice.matrix, coords=s.cart_coords,
                         elements=[site.specie.symbol for site in s], cartesian=True) for s in unique]
    start = time.perf_counter()
    for a in atoms:
        build_pure_torch_graph(atoms=a, two_body_cutoff=8.0, three_body_cutoff=8.0, max_neighbors=12,
                               atom_features="cgcnn")
    reference = (time.perf_counter() - start) / len(unique)

    with tempfile.TemporaryDirectory() as folder:
        cache = GraphCache(directory=folder)
        clear_graph_cache()
        for s in unique:
            cache.get(s)
        start = time.perf_counter()
        for s in unique:
            cache.get(s)
        memory_hit = (time.perf_counter() - start) / len(unique)
        clear_graph_cache()
        start = time.perf_counter()
        for s in unique:
            cache.get(s)
        disk_hit = (time.perf_counter() - start) / len(unique)
    clear_graph_cache()
    return {"distinct_structures": len(unique),
            "edges_per_structure": float(np.mean([g.num_edges for g in graphs])),
            "cached_bytes_per_structure": float(np.mean([g.nbytes for g in graphs])),
            "build_ms": 1e3 * ours, "alignn_build_pure_torch_graph_ms": 1e3 * reference,
            "memory_hit_ms": 1e3 * memory_hit, "disk_hit_ms": 1e3 * disk_hit}


def time_model(profile: str, structures: list[Structure], y: np.ndarray, args: argparse.Namespace
               ) -> dict[str, object]:
    """Train and predict cost of the profile's ALIGNN (graphs are cached before timing)."""
    params = config.model_params("alignn", profile)
    params.update(epochs=args.epochs, validation_fraction=0.0, progress=False, device=args.device,
                  n_threads=args.n_threads, random_state=config.ALIGNN_SEED)
    model = ALIGNNRegressor(**params)
    model.fit(structures, y)
    epoch_seconds = np.array(model.history_["seconds"])
    timed = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    model.predict(structures[: params["batch_size"]])  # warm-up
    start = time.perf_counter()
    model.predict(structures)
    predict_seconds = time.perf_counter() - start
    return {"params": {k: params[k] for k in ("hidden_features", "embedding_features", "alignn_layers",
                                               "gcn_layers", "batch_size", "epochs")},
            "n_parameters": sum(p.numel() for p in model.model_.parameters()),
            "train_ms_per_structure_epoch": 1e3 * float(timed.mean()) / len(structures),
            "first_epoch_ms_per_structure": 1e3 * float(epoch_seconds[0]) / len(structures),
            "predict_ms_per_structure": 1e3 * predict_seconds / len(structures),
            "fit_seconds": model.fit_seconds_}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write JSON, print a table."""
    args = parse_args(argv)
    torch.set_num_threads(args.n_threads)
    structures = real_structures(args.n_structures, args.min_atoms)
    y = np.array([s.volume / len(s) for s in structures])
    atoms = np.array([len(s) for s in structures])
    load_before = os.getloadavg()

    graph = time_graphs(structures)
    models = {profile: time_model(profile, structures, y, args) for profile in args.profiles.split(",")}
    result = {
        "benchmark": "alignn",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cores": available_cores(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(),
                    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
        "versions": {package: importlib.metadata.version(package)
                     for package in ("torch", "alignn", "pymatgen", "lessdata")},
        "structures": {"n": len(structures), "atoms_mean": float(atoms.mean()), "atoms_min": int(atoms.min()),
                       "atoms_max": int(atoms.max())},
        "graph": graph,
        "models": models,
    }
    io.write_json(args.out, result)

    print(f"{len(structures)} real structures, {atoms.mean():.1f} atoms on average "
          f"({atoms.min()}-{atoms.max()}), {graph['edges_per_structure']:.0f} edges; "
          f"{args.n_threads} threads on {args.device}; load average {load_before[0]:.1f}")
    print(f"graph build {graph['build_ms']:.2f} ms/structure (alignn build_pure_torch_graph "
          f"{graph['alignn_build_pure_torch_graph_ms']:.2f}); cache hit memory {graph['memory_hit_ms']:.3f}, "
          f"disk {graph['disk_hit_ms']:.3f} ms; {graph['cached_bytes_per_structure'] / 1024:.1f} KiB cached")
    header = f"{'profile':8} {'width':>7} {'batch':>5} {'params':>9} {'train ms/struct/epoch':>22} " \
             f"{'predict ms/struct':>18}"
    print(header)
    print("-" * len(header))
    for profile, row in models.items():
        p = row["params"]
        print(f"{profile:8} {p['hidden_features']:>3}/{p['embedding_features']:<3} {p['batch_size']:>5} "
              f"{row['n_parameters']:>9,} {row['train_ms_per_structure_epoch']:>22.1f} "
              f"{row['predict_ms_per_structure']:>18.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""lessdata as a user installs it: a wheel in a fresh virtual environment, used from a working folder.

The wheel is built from a copy of the sources and installed without dependencies into a new venv; the
venv sees this checkout's installed dependencies through a ``.pth`` line (installing 1.8 GB again
would teach nothing).  A tiny study then runs from a temporary folder with its own ``HOME``, and the
test checks that not one file inside the environment changed: data and caches went to the per-user
cache folder, results to the working folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

from lessdata import config

pytestmark = pytest.mark.skipif(not config.in_clone(), reason="builds the wheel from the clone's sources")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in folder.rglob("*") if path.is_file()}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_installed_wheel_writes_nothing_inside_the_environment(tmp_path, mp18_table):
    source = tmp_path / "source"
    shutil.copytree(config.REPO_ROOT / "codes" / "lessdata", source / "codes" / "lessdata",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(config.REPO_ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path / "wheels"), str(source)])
    wheel = next((tmp_path / "wheels").glob("lessdata-*.whl"))

    env = tmp_path / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    purelib = Path(run([str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                        "['purelib'])"]).stdout.strip())
    (purelib / "lessdata_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--no-deps",
         "--quiet", str(wheel)])
    before = snapshot(env)

    work = tmp_path / "work"
    work.mkdir()
    mp18_table.sample(120, random_state=1).reset_index().to_csv(work / "mine.csv", index=False)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LESSDATA_")}
    environment.pop("XDG_CACHE_HOME", None)
    environment["HOME"] = str(tmp_path / "home")
    lessdata = str(env / "bin" / "lessdata")
    where = run([str(env / "bin" / "python"), "-c", "import lessdata.config as c; print(c.in_clone(), "
                 "c.data_dir(), c.results_dir())"], cwd=work, env=environment).stdout.split()
    assert where == ["False", str(tmp_path / "home" / ".cache" / "lessdata" / "data"), str(work / "results")]

    run([lessdata, "featurize", "--input", "mine.csv", "--name", "mine", "--id-col", "id", "--formula-col",
         "formula", "--targets", "e_form", "--no-progress"], cwd=work, env=environment)
    run([lessdata, "random", "--dataset", "mine", "--target", "e_form", "--models", "rf", "--seeds", "1",
         "--fractions", "0.5,1.0", "--no-progress"], cwd=work, env=environment)

    assert snapshot(env) == before, "files inside the environment were written or changed"
    scores = pd.read_csv(work / "results" / "scores.csv")
    assert set(scores["train_frac"]) == {0.5, 1.0} and scores["rmse"].notna().all()
    assert (tmp_path / "home" / ".cache" / "lessdata" / "data" / "mine" / "table.parquet").is_file()

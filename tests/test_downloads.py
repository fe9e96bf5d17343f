"""The Zenodo download path, for real, against a local HTTP server serving a paper-format pickle.

The pickle holds real crystal structures (the mineral CIFs ase ships and elemental crystals from
``ase.build.bulk``) with their 273 matminer features, laid out like the paper's files: metadata columns
first, then 128 structural and 145 compositional feature columns.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import ase.build
import numpy as np
import pandas as pd
import pytest
from pymatgen.io.ase import AseAtomsAdaptor

from lessdata.data import datasets, downloads
from lessdata.data.datasets import DatasetError, load_dataset
from lessdata.features import featurize

ELEMENTS = ["Cu", "Al", "Ni", "Fe", "W", "Si", "Ge", "C", "Na", "Mg", "Ti", "Zn"]


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (like Zenodo), quiet, counting requests."""

    requests_seen: list[str] = []

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        RangeHandler.requests_seen.append(self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path.split("?")[0]))
        if not path.is_file():
            self.send_error(404)
            return
        payload = path.read_bytes()
        requested = self.headers.get("Range")
        start = int(requested.split("=")[1].split("-")[0]) if requested else 0
        self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(payload) - start))
        self.end_headers()
        self.wfile.write(payload[start:])


@pytest.fixture(scope="module")
def paper_pickle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    structures = [AseAtomsAdaptor.get_structure(ase.build.bulk(symbol)) for symbol in ELEMENTS]
    result = featurize.featurize_structures(structures, progress=False)
    assert result.features.shape == (len(ELEMENTS), 273)
    meta = pd.DataFrame({
        "jid": [f"JVASP-{1000 + i}" for i in range(len(ELEMENTS))],
        "formula": [s.composition.reduced_formula for s in structures],
        "atoms": [s.as_dict() for s in structures],
        # Real elemental crystals: formation energy 0 by definition; one outlier and one gap missing
        # exercise the cleaning rules.
        "e_form": [0.0] * (len(ELEMENTS) - 1) + [6.0],
        "bandgap": [np.nan] + [0.0] * (len(ELEMENTS) - 1),
    })
    frame = pd.concat([meta, result.features.reset_index(drop=True)], axis=1)
    folder = tmp_path_factory.mktemp("zenodo")
    path = folder / datasets.REGISTRY["jarvis"].filename
    frame.to_pickle(path)
    return path


@pytest.fixture()
def server(paper_pickle: Path) -> Iterator[str]:
    directory = str(paper_pickle.parent)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: RangeHandler(*a, directory=directory))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.requests_seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_record_hash_and_load(tmp_data_dir: Path, server: str, paper_pickle: Path) -> None:
    path = downloads.download_paper_dataset("jarvis18", base_url=server, progress=False)
    assert path == tmp_data_dir / "jarvis" / "jarvis_featurized_matminer.pkl"
    assert path.read_bytes() == paper_pickle.read_bytes()
    record = json.loads((path.parent / "download.json").read_text())
    assert record["sha256"] == hashlib.sha256(paper_pickle.read_bytes()).hexdigest()
    # Loading applies the paper's cleaning with counts.
    dataset = load_dataset("jarvis", "e_form", download=False)
    steps = {step["rule"]: step["dropped"] for step in dataset.cleaning}
    assert steps["e_form > 5 eV/atom"] == 1
    assert dataset.X.shape == (len(ELEMENTS) - 1, 273)
    assert dataset.has_structures and dataset.ids[0] == "JVASP-1000"
    assert len(load_dataset("jarvis", "bandgap", download=False)) == len(ELEMENTS) - 2
    # A changed file is detected against the recorded hash.
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(DatasetError, match="recorded"):
        downloads.download_paper_dataset("jarvis", base_url=server, progress=False)


def test_interrupted_download_resumes(tmp_data_dir: Path, server: str, paper_pickle: Path) -> None:
    folder = tmp_data_dir / "jarvis"
    folder.mkdir()
    payload = paper_pickle.read_bytes()
    (folder / "jarvis_featurized_matminer.pkl.part").write_bytes(payload[: len(payload) // 3])
    path = downloads.download_paper_dataset("jarvis", base_url=server, progress=False)
    assert path.read_bytes() == payload
    assert RangeHandler.requests_seen == [f"bytes={len(payload) // 3}-"]


def test_offline_fails_fast_naming_url_and_path(tmp_data_dir: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        downloads.download_paper_dataset("mp18", base_url="http://127.0.0.1:9")
    message = str(caught.value)
    assert "http://127.0.0.1:9/mp18_featurized_matminer.pkl" in message
    assert str(tmp_data_dir / "mp18" / "mp18_featurized_matminer.pkl") in message


def test_not_downloaded_without_permission(tmp_data_dir: Path) -> None:
    with pytest.raises(DatasetError, match="get_featurized_data.bash mp18"):
        load_dataset("mp18", "e_form", download=False)


def test_known_hash_mismatch_is_refused(tmp_data_dir: Path, server: str, paper_pickle: Path) -> None:
    # jarvis22 carries a third-party MD5; our small file cannot match it.
    (paper_pickle.parent / "jarvis22_featurized_matminer.pkl").write_bytes(paper_pickle.read_bytes())
    with pytest.raises(DatasetError, match="registry expects 0d16060701e26ea18ef22bdd8bee69bb"):
        downloads.download_paper_dataset("jarvis22", base_url=server, progress=False)


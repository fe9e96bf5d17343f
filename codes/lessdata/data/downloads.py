"""The paper's featurized datasets from Zenodo, downloaded only when a user names one: resumable, with
the known checksum checked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pooch
import requests
from tqdm.auto import tqdm

from lessdata import files as lio
from lessdata.data.datasets import DatasetError, DatasetSpec, dataset_dir, resolve


# --------------------------------------------------------------------------------------------------
# Zenodo downloads.
# --------------------------------------------------------------------------------------------------
def zenodo_url(spec: DatasetSpec, base_url: str | None = None) -> str:
    """Download address of a paper dataset; ``base_url`` replaces Zenodo (tests, mirrors)."""
    if base_url:
        return f"{base_url.rstrip('/')}/{spec.filename}"
    return ZENODO_URL.format(record=ZENODO_RECORD, fname=spec.filename)



class ResumableDownloader:
    """A pooch downloader that resumes from ``<file>.part`` with an HTTP Range request.

    pooch's own downloader restarts from zero; the paper's pickles are hundreds of MB, so an interrupted
    download keeps its bytes in ``.part`` beside the final file and continues from there.  Servers that
    ignore Range (status 200) are handled by starting over.
    """

    def __init__(self, part_path: Path, *, timeout: float = 30.0, progress: bool = True) -> None:
        self.part_path = Path(part_path)
        self.timeout = timeout
        self.progress = progress

    def __call__(self, url: str, output_file: str, pooch_instance: Any, check_only: bool = False) -> Any:
        if check_only:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).ok
        offset = self.part_path.stat().st_size if self.part_path.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if response.status_code != 416:  # 416: the .part file already holds every byte
                response.raise_for_status()
                if response.status_code == 200:
                    offset = 0
                total = int(response.headers.get("Content-Length", 0)) + offset
                with open(self.part_path, "ab" if offset else "wb") as handle, tqdm(
                        total=total or None, initial=offset, unit="B", unit_scale=True,
                        desc=self.part_path.stem, disable=not self.progress) as bar:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        handle.write(chunk)
                        bar.update(len(chunk))
        self.part_path.replace(output_file)



def download_paper_dataset(name: str, *, base_url: str | None = None, progress: bool = True) -> Path:
    """Download (once) a paper dataset from Zenodo into ``data/<key>/`` and check its hash.

    The first download records the file's sha256 in ``data/<key>/download.json``; later calls verify
    against it.  Where the registry knows a hash (only a third-party MD5 for jarvis22), it is checked too.

    Raises:
        DatasetError: offline or on a hash mismatch, naming the URL and where to put the file by hand.
    """
    spec = resolve(name)
    if spec.source != "zenodo":
        raise DatasetError(f"dataset {spec.key!r} is not a Zenodo download (source: {spec.source})")
    folder = dataset_dir(spec.key)
    target = folder / spec.filename
    record_path = folder / "download.json"
    url = zenodo_url(spec, base_url)
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        downloader = ResumableDownloader(folder / f"{spec.filename}.part", progress=progress)
        try:
            pooch.retrieve(url, known_hash=None, fname=spec.filename, path=folder, downloader=downloader)
        except Exception as error:  # network errors come in many types (requests, urllib3, OSError)
            raise DatasetError(
                f"could not download {url}: {error}. If this machine is offline, fetch that URL by hand "
                f"and place the file at {target}, then rerun.") from error
    sha256 = lio.sha256_file(target)
    if spec.known_hash:
        algorithm, expected = spec.known_hash.split(":", 1)
        actual = sha256 if algorithm == "sha256" else lio.hash_file(target, algorithm)
        if actual != expected:
            raise DatasetError(f"{target} has {algorithm} {actual} but the registry expects {expected} "
                               f"(registry note: {spec.note}). Delete the file to download it again, or "
                               "correct the hash in lessdata/data/datasets.py REGISTRY if the source "
                               "changed.")
    if record_path.exists():
        recorded = lio.read_json(record_path)["sha256"]
        if recorded != sha256:
            raise DatasetError(f"{target} has sha256 {sha256} but {record_path} recorded {recorded} at its "
                               "first download; the file changed. Delete both to download again.")
    else:
        lio.write_json(record_path, {"key": spec.key, "source": "zenodo", "url": url, "sha256": sha256,
                                     "bytes": target.stat().st_size,
                                     "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return target


# --------------------------------------------------------------------------------------------------
# Registry: one table, easy to correct.
# --------------------------------------------------------------------------------------------------
ZENODO_RECORD = "8200972"



ZENODO_URL = "https://zenodo.org/records/{record}/files/{fname}?download=1"

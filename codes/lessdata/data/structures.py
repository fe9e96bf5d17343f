"""Parsing formulas and crystal structures from user input.

One concern: turn what users bring (formula text, CIF, POSCAR, pymatgen or jarvis dicts) into pymatgen
objects, or fail with a message naming the format and the problem, and hash structures for cache keys.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.periodic_table import DummySpecies

from lessdata.errors import LessdataError

__all__ = ["parse_formula", "parse_structure", "structure_hash"]

#: Decimals kept when hashing structures: far below DFT precision, far above float round-off.
_HASH_DECIMALS = 10
_JARVIS_KEYS = ("lattice_mat", "coords", "elements", "cartesian")
_CIF_MARKERS = re.compile(r"^\s*(data_|_cell_length_a|loop_)", re.MULTILINE)


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------
def parse_formula(text: str, *, allow_unknown_elements: bool = False) -> Composition:
    """Parse a chemical formula into an element-only pymatgen ``Composition``.

    pymatgen accepts some strings that are not chemistry (it turns unknown symbols such as "Xx" into
    dummy species, and "Fe0" into an empty composition); those would only fail later, deep inside a
    featurizer, so they are rejected here with the reason.

    Args:
        text: A formula such as ``"Fe2O3"``, ``"Li0.5CoO2"`` or ``"Ca(OH)2"``.
        allow_unknown_elements: Keep pymatgen's dummy species ("X", "Xx", "E") instead of rejecting
            them.  Only for callers that group by symbol and never featurize (the pruning redundancy
            tables, which have always accepted anything pymatgen's ``Composition`` parses).

    Returns:
        The composition, without oxidation states.

    Raises:
        ValueError: If ``text`` is not a string, is empty, cannot be parsed, names an unknown element
            (unless ``allow_unknown_elements``) or contains no atoms.  The message names the formula.
    """
    if not isinstance(text, str):
        kind = "missing value (NaN/None)" if _is_missing(text) else type(text).__name__
        raise LessdataError(f"formula must be text, got {kind}: {text!r}")
    stripped = text.strip()
    if not stripped:
        raise LessdataError(f"empty formula {text!r}")
    try:
        composition = Composition(stripped)
    except Exception as exc:  # pymatgen raises ValueError, KeyError, ... depending on the defect
        raise LessdataError(f"cannot parse formula {text!r}: {exc}") from exc
    unknown = sorted({species.symbol for species in composition if isinstance(species, DummySpecies)})
    if unknown and not allow_unknown_elements:
        raise LessdataError(f"formula {text!r} contains unknown element symbol(s): {', '.join(unknown)}")
    if composition.num_atoms <= 0:
        raise LessdataError(f"formula {text!r} contains no atoms")
    return composition.element_composition


def parse_structure(obj: Any) -> Structure:
    """Read a crystal structure from any of the formats lessdata accepts, wrapped into the unit cell.

    Accepted inputs: a pymatgen ``Structure``; a pymatgen ``Structure.as_dict()`` dict; a jarvis-tools
    ``Atoms.to_dict()`` dict (keys ``lattice_mat``, ``coords``, ``elements``, ``cartesian``); the JSON
    text of either dict; CIF text; POSCAR text.  The jarvis dict is converted directly (lattice,
    species, coordinates in the frame that ``cartesian`` names), which is what jarvis'
    ``Atoms.pymatgen_converter`` does, without importing jarvis.

    Disordered structures (partial occupancies) are rejected: the structural featurizers fail on them
    with unhelpful errors, and graph models need one species per site.

    Args:
        obj: The structure in one of the formats above.

    Returns:
        A new ``Structure`` with every site's fractional coordinates in [0, 1).

    Raises:
        ValueError: With a message naming the detected format and what went wrong.
    """
    if isinstance(obj, Structure):
        fmt, structure = "pymatgen Structure", obj.copy()
    elif isinstance(obj, Mapping):
        fmt, structure = _structure_from_mapping(obj, source="dict")
    elif isinstance(obj, (str, bytes)):
        fmt, structure = _structure_from_text(obj.decode() if isinstance(obj, bytes) else obj)
    elif _is_missing(obj):
        raise LessdataError(f"missing structure (got {obj!r})")
    else:
        raise LessdataError(
            f"unsupported structure input of type {type(obj).__name__}; expected a pymatgen Structure, "
            "a pymatgen or jarvis dict, JSON text, CIF text or POSCAR text"
        )
    _validate_structure(structure, fmt)
    return _wrapped(structure)


def structure_hash(structure: Structure) -> str:
    """Stable sha256 of a structure, for cache keys (features here, graphs in the ALIGNN wrapper).

    The hash covers what the features and graphs depend on -- lattice matrix, periodicity, charge, and
    per site the species (with oxidation state and occupancy) and fractional coordinates -- written
    as canonical JSON with numbers rounded to 1e-10.  Coordinates are wrapped into [0, 1) first, so a
    structure and its wrapped copy hash alike.  Site properties (magnetic moments, labels) and
    pymatgen's serialization format are left out, so the hash survives pymatgen upgrades.

    Args:
        structure: A pymatgen ``Structure``.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256(_canonical_structure_json(structure).encode()).hexdigest()


def _parse_all(inputs: Sequence[Any], parse: Callable[[Any], Any]) -> tuple[list[Any], list[str | None]]:
    """Parse every input, recording (never raising) each failure as that row's error text.

    The batch form for :mod:`lessdata.features.featurize`: one bad row becomes a recorded failure, not a
    stopped run.

    Returns:
        (parsed objects with None where parsing failed, per-row error or None).
    """
    parsed: list[Any] = []
    errors: list[str | None] = [None] * len(inputs)
    for row, item in enumerate(inputs):
        try:
            parsed.append(parse(item))
        except Exception as exc:  # ValueError by contract; anything else is recorded too, not raised
            parsed.append(None)
            errors[row] = f"parse: {_exception_text(exc)}"
    return parsed, errors


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def _structure_from_text(text: str) -> tuple[str, Structure]:
    """Detect JSON, CIF or POSCAR text and read it."""
    stripped = text.strip()
    if not stripped:
        raise LessdataError("empty structure text")
    if stripped.startswith("{"):
        try:
            decoded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise LessdataError(f"JSON text: not valid JSON ({exc})") from exc
        if not isinstance(decoded, Mapping):
            raise LessdataError(f"JSON text: expected an object, got {type(decoded).__name__}")
        return _structure_from_mapping(decoded, source="JSON text")
    if _CIF_MARKERS.search(stripped):
        return "CIF text", _read_with_pymatgen(stripped, "cif", "CIF text")
    # Not JSON and no CIF block: POSCAR is the remaining text format, and the message says so.
    return "POSCAR text", _read_with_pymatgen(
        stripped, "poscar", "POSCAR text (not JSON, no CIF 'data_' block)"
    )


def _read_with_pymatgen(text: str, fmt: str, label: str) -> Structure:
    """Parse with pymatgen; its warnings explain a failure better than its exception, so keep them.

    pymatgen's CIF parser reports the actual problem ("No structure parsed ... '_atom_site_label'")
    as a warning and then raises a generic error; on failure those warnings go into the message, on
    success they are passed on to the caller unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structure = Structure.from_str(text, fmt=fmt)
        except Exception as exc:  # pymatgen's parsers raise many types (ValueError, IndexError, ...)
            notes = list(dict.fromkeys(" ".join(str(item.message).split()) for item in caught))
            # pymatgen repeats all CIF notes in one summary warning; keep the individual ones.
            notes = [note for note in notes if not note.startswith("Issues encountered")] or notes
            detail = f"; pymatgen warned: {' | '.join(notes)}" if notes else ""
            raise LessdataError(
                f"{label}: pymatgen could not read it ({type(exc).__name__}: {exc}){detail}"
            ) from exc
    for item in caught:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return structure


def _structure_from_mapping(data: Mapping[str, Any], *, source: str) -> tuple[str, Structure]:
    """Read a jarvis ``Atoms`` dict or a pymatgen ``Structure`` dict."""
    keys = set(data)
    if {"lattice_mat", "coords", "elements"} <= keys:
        fmt = f"jarvis Atoms dict ({source})"
        return fmt, _structure_from_jarvis(data, fmt)
    if {"lattice", "sites"} <= keys:
        fmt = f"pymatgen Structure dict ({source})"
        declared = data.get("@class", "Structure")
        if declared not in ("Structure", "IStructure"):
            raise LessdataError(f"{fmt}: '@class' is {declared!r}, expected 'Structure'")
        try:
            return fmt, Structure.from_dict(dict(data))
        except Exception as exc:  # malformed nested content raises KeyError/TypeError/ValueError
            raise LessdataError(f"{fmt}: pymatgen could not read it ({type(exc).__name__}: {exc})") from exc
    raise LessdataError(
        f"{source}: not a pymatgen Structure dict (keys 'lattice', 'sites') nor a jarvis Atoms dict "
        f"(keys {', '.join(map(repr, _JARVIS_KEYS))}); got keys {sorted(map(str, keys))}"
    )


def _structure_from_jarvis(data: Mapping[str, Any], fmt: str) -> Structure:
    """Build a ``Structure`` from jarvis-tools ``Atoms.to_dict()`` content."""
    if "cartesian" not in data:
        raise LessdataError(f"{fmt}: key 'cartesian' is missing, so the coordinate frame is unknown")
    try:
        lattice = np.asarray(data["lattice_mat"], dtype=np.float64)
        coords = np.asarray(data["coords"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LessdataError(f"{fmt}: 'lattice_mat' and 'coords' must be numeric arrays ({exc})") from exc
    elements = list(data["elements"])
    if lattice.shape != (3, 3):
        raise LessdataError(f"{fmt}: 'lattice_mat' must be 3x3, got shape {lattice.shape}")
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) != len(elements):
        raise LessdataError(
            f"{fmt}: 'coords' must be {len(elements)}x3 to match {len(elements)} 'elements', "
            f"got shape {coords.shape}"
        )
    try:
        return Structure(Lattice(lattice), elements, coords, coords_are_cartesian=bool(data["cartesian"]))
    except Exception as exc:  # unknown element symbols raise ValueError/KeyError in pymatgen
        raise LessdataError(f"{fmt}: pymatgen could not build it ({type(exc).__name__}: {exc})") from exc


def _validate_structure(structure: Structure, fmt: str) -> None:
    """Reject structures that parse but cannot be featurized, with the reason."""
    if len(structure) == 0:
        raise LessdataError(f"{fmt}: the structure has no sites")
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)) or abs(structure.lattice.volume) < 1e-6:
        raise LessdataError(f"{fmt}: degenerate lattice (volume {structure.lattice.volume:.3g} A^3)")
    if not np.all(np.isfinite(structure.frac_coords)):
        raise LessdataError(f"{fmt}: non-finite atomic coordinates")
    unknown = sorted({sp.symbol for site in structure for sp in site.species if isinstance(sp, DummySpecies)})
    if unknown:
        raise LessdataError(f"{fmt}: unknown element symbol(s): {', '.join(unknown)}")
    disordered = [index for index, site in enumerate(structure) if not site.is_ordered]
    if disordered:
        first = disordered[0]
        raise LessdataError(
            f"{fmt}: the structure is disordered ({len(disordered)} site(s) with partial occupancy, "
            f"e.g. site {first}: {structure[first].species}); lessdata needs one species per site"
        )


def _wrapped(structure: Structure) -> Structure:
    """Copy with all sites translated into the unit cell (the paper's preprocessing step).

    Fractional coordinates are taken modulo 1 and a result that rounds to exactly 1.0 (``np.mod`` of
    a tiny negative number) is set to 0.0.  pymatgen leaves such a site at 1.0, but its Voronoi
    tessellation (``VoronoiNN.get_all_voronoi_polyhedra``) puts the site's own image at 0.0 twice
    -- once wrapped, once as a neighbour -- and the coincident points leave the site without a
    Voronoi cell ("No Voronoi neighbors found for site"): 13 % of a random sample of OQMD-ICSD
    crystals failed all four Voronoi featurizers that way before this step.
    """
    frac = np.mod(np.asarray(structure.frac_coords, dtype=np.float64), 1.0)
    frac[frac >= 1.0] = 0.0
    wrapped = Structure(structure.lattice, [site.species for site in structure], frac,
                        charge=structure.charge, site_properties=structure.site_properties or None,
                        labels=[site.label for site in structure], properties=dict(structure.properties))
    return wrapped


def _canonical_structure_json(structure: Structure) -> str:
    def rounded(array: np.ndarray) -> list:
        return (np.round(np.asarray(array, dtype=np.float64), _HASH_DECIMALS) + 0.0).tolist()

    frac = np.mod(structure.frac_coords, 1.0)
    frac = np.round(frac, _HASH_DECIMALS)
    frac[frac >= 1.0] = 0.0
    sites = [
        [sorted([str(species), round(float(occupancy), _HASH_DECIMALS)]
                for species, occupancy in site.species.items()), coords]
        for site, coords in zip(structure, rounded(frac), strict=True)
    ]
    canonical = {
        "lattice": rounded(structure.lattice.matrix),
        "pbc": [bool(flag) for flag in structure.lattice.pbc],
        "charge": float(structure.charge or 0.0),
        "sites": sites,
    }
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def _exception_text(exc: Exception) -> str:
    """The message of our errors (already explicit); type and message of anything else."""
    ours = isinstance(exc, LessdataError) or type(exc) is ValueError
    return str(exc) if ours else f"{type(exc).__name__}: {exc}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))

"""The machine-independent data checksum (lessdata.files.numeric_sha256)."""

from __future__ import annotations

import numpy as np

from lessdata.files import numeric_sha256


def test_numeric_checksum_ignores_last_bits_and_sees_real_changes() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6)) * np.array([1e-6, 1e-2, 1.0, 3.0, 1e3, 1e6])
    X[5, 1] = np.nan
    reference = numeric_sha256(X)
    # A few ulps either way (what another CPU's transcendental functions give) and signed zeros.
    assert numeric_sha256(np.nextafter(X, np.inf)) == reference
    assert numeric_sha256(X * (1 + 4 * np.finfo(float).eps)) == reference
    zeros = np.zeros((3, 2))
    assert numeric_sha256(-zeros) == numeric_sha256(zeros)
    # A change of 1e-5 of one column's scale, in one entry, is another table; so are NaN moves and shapes.
    for row, column in [(0, 0), (1999, 5), (7, 3)]:
        changed = X.copy()
        changed[row, column] += 1e-5 * np.nanmax(np.abs(X[:, column]))
        assert numeric_sha256(changed) != reference
    moved = X.copy()
    moved[5, 1], moved[6, 1] = X[6, 1], np.nan
    assert numeric_sha256(moved) != reference
    assert numeric_sha256(X.reshape(1000, 12)) != reference
    # Several arrays: order matters, and a 1-d array is one column.
    y = X[:, 2].copy()
    assert numeric_sha256(y, X) != numeric_sha256(X, y)
    assert numeric_sha256(y) == numeric_sha256(y[:, None])

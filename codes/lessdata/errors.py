"""Exceptions shared by modules that must not import each other (kept free of heavy imports)."""

from __future__ import annotations


class StructuresRequiredError(ValueError):
    """A graph model (ALIGNN) was given something other than crystal structures.

    Raised for formulas, compositions or feature tables, and for composition-only datasets; the message
    says how to provide structures.
    """

"""The exceptions lessdata raises for bad input, under one base class (kept free of heavy imports).

The command line turns a :class:`LessdataError` into one line on stderr and exit status 2; any other
exception is a bug and keeps its traceback.  The base derives from ``ValueError`` so that callers
catching ``ValueError`` around bad arguments keep working.
"""

from __future__ import annotations


class LessdataError(ValueError):
    """Bad input to lessdata: a file, a column, a setting or a name; the message says how to fix it."""


class StructuresRequiredError(LessdataError):
    """A graph model (ALIGNN) was given something other than crystal structures.

    Raised for formulas, compositions or feature tables, and for composition-only datasets; the message
    says how to provide structures.
    """


class MissingInputError(LessdataError, FileNotFoundError):
    """A file or folder the user named (a table, an id list, a results folder) does not exist.

    Also a ``FileNotFoundError``, so callers catching that keep working; the message names the path and
    how to create or point at the right one.
    """

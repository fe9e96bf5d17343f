"""Griffe extension: read lessdata's docstrings as the API reference shows them.

The docstrings are Google style with two habits from Sphinx that MkDocs does not understand:
``Example:`` as a section title (griffe knows ``Examples:``; the singular becomes a note whose doctest
prompts render as quotes) and roles such as :func:`lessdata.prune`, shown here as code.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_EXAMPLE_SECTION = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj|const):`~?([^`]+)`")


def markdown_docstring(text: str) -> str:
    """``text`` with ``Example:`` sections renamed ``Examples:`` and Sphinx roles turned into code."""
    return _ROLE.sub(r"`\1`", _EXAMPLE_SECTION.sub(r"\1Examples:", text))


class SphinxHabits(Extension):
    """Rewrite each docstring once, when griffe creates its object."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)

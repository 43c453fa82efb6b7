"""A griffe extension for the documentation site (mkdocs.yml loads it through mkdocstrings).

The package documents itself with two Sphinx conventions that Markdown does not know:

* cross-reference roles (``:class:`Call```, ``:meth:`~pgeventstore.store.EventStore.append```),
  which would show verbatim: each becomes inline code of the name as Sphinx displays it,
  the last component after a leading ``~``, the whole target otherwise;
* ``#:`` comments above a module or class attribute, its documentation for Sphinx but
  invisible to griffe: they become the attribute's docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|mod|func|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")


def plain_roles(text: str) -> str:
    """``text`` with every Sphinx cross-reference role replaced by inline code."""

    def shown(match: re.Match[str]) -> str:
        tilde, target = match.groups()
        return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"

    return ROLE.sub(shown, text)


def comment_above(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment lines directly above line ``lineno`` (1-based), joined, or None."""
    comment: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(comment) or None


class SphinxConventions(griffe.Extension):
    """Applies both conventions to every object griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Give an attribute its ``#:`` comment as docstring; rewrite the roles of any docstring."""
        if obj.docstring is None and isinstance(obj, griffe.Attribute) and obj.lineno and obj.filepath:
            path = obj.filepath if not isinstance(obj.filepath, list) else obj.filepath[0]
            text = comment_above(obj.lines_collection[path], obj.lineno)
            if text:
                obj.docstring = griffe.Docstring(text, lineno=obj.lineno, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)

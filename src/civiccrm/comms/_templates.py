"""
Message templates: text with ``$name`` or ``${name}`` placeholders, and nothing else.

The syntax is deliberately tiny, so that a template written in an agency profile can
never run code or reach into an object: a placeholder is a bare name from a fixed list
of fields (no attribute access, no indexing, no filters, no conditionals), ``$$`` is a
dollar sign, and any other ``$`` is an error. Values are inserted as they are and never
read as template text again, so a citizen's name containing ``$reference`` stays
``$reference``.

>>> t = Template.parse("Dear $name, your request ${reference} costs $$0.")
>>> sorted(t.fields)
['name', 'reference']
>>> t.render({"name": "Ana", "reference": "SR-1"})
'Dear Ana, your request SR-1 costs $0.'

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

import attrs

__all__ = ["Template", "TemplateSyntaxError", "escape"]

#: What may follow a ``$``: another ``$``, a name, or a name in braces.
_TOKEN: Final = re.compile(
    r"\$(?:(?P<dollar>\$)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\})"
)


class TemplateSyntaxError(ValueError):
    """
    Raised when template text is not well formed, or uses a placeholder that is not
    allowed where it is; the message says where (line and column) and what to write
    instead.

    .. versionadded:: 0.1.0
    """


def escape(text: str) -> str:
    """``text`` as template text that renders to itself (each ``$`` doubled)."""
    return text.replace("$", "$$")


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


@attrs.frozen
class Template:
    """
    Parsed template text: literal parts and placeholder names, in order.

    Make one with :meth:`parse`.

    .. versionadded:: 0.1.0
    """

    #: The text as written.
    source: str
    #: Literal text and placeholders in turn: ``parts[0]`` is text, ``parts[1]`` a
    #: name, ``parts[2]`` text, and so on (always an odd number of parts).
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, *, allowed: Collection[str] | None = None) -> Template:
        """
        Parse ``text``; with ``allowed``, every placeholder must be one of those names.

        Raises:
            TemplateSyntaxError: a ``$`` that starts no placeholder (write ``$$`` for a
                dollar sign), an unclosed ``${``, or a name not in ``allowed``; the
                message gives the line and column.
        """
        if not isinstance(text, str):
            raise TemplateSyntaxError(f"expected text, got {type(text).__name__}")
        parts: list[str] = []
        literal: list[str] = []
        pos = 0
        while True:
            found = text.find("$", pos)
            if found < 0:
                literal.append(text[pos:])
                break
            literal.append(text[pos:found])
            match = _TOKEN.match(text, found)
            if match is None:
                if text.startswith("${", found):
                    raise TemplateSyntaxError(
                        f"'${{' at {_where(text, found)} is not closed by a name and '}}'"
                    )
                raise TemplateSyntaxError(
                    f"a '$' that starts no placeholder at {_where(text, found)} "
                    "(write $$ for a dollar sign)"
                )
            if match.group("dollar"):
                literal.append("$")
            else:
                name = match.group("name") or match.group("braced")
                if allowed is not None and name not in allowed:
                    known = ", ".join(sorted(allowed)) or "none here"
                    raise TemplateSyntaxError(
                        f"unknown placeholder ${name} at {_where(text, found)} (known: {known})"
                    )
                parts.append("".join(literal))
                parts.append(name)
                literal = []
            pos = match.end()
        parts.append("".join(literal))
        return cls(text, tuple(parts))

    @property
    def fields(self) -> frozenset[str]:
        """The placeholder names it uses."""
        return frozenset(self.parts[1::2])

    def render(self, values: Mapping[str, str], *, one_line: bool = False) -> str:
        """
        The text with each placeholder replaced by its value (a missing value renders
        empty). Values are inserted as they are, never read as template text.
        ``one_line`` turns line breaks in values into spaces (for an email subject).
        """
        out: list[str] = []
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = values.get(part, "")
            if one_line:
                value = " ".join(value.split())
            out.append(value)
        text = "".join(out)
        return " ".join(text.split()) if one_line else text

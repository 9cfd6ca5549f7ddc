"""HTML: one self-contained page (styles inline, charts as inline SVG, no script, nothing
fetched), from the Jinja templates shipped in this package."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def render(template: str, **context: Any) -> str:
    """The page; every value is escaped except the SVGs, passed as `svg(...)`."""
    environment = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the render, not shows blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(template).render(**context)


def svg(markup: str) -> Markup:
    """An SVG that charts.render made: safe to put in the page as is, since matplotlib escapes
    the text it draws (a scenario's fault descriptions, for one)."""
    return Markup(markup)

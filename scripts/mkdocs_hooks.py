"""mkdocs hook: show the Sphinx markup of the provider's docstrings cleanly in the API reference.

The docstrings follow Airflow's convention (Sphinx ``:param:`` fields, ``:class:`` roles,
``.. code-block::`` directives). mkdocstrings reads the fields; this turns what is left of the roles,
``:class:<code>~pkg.mod.Name</code>``, into ``<code>Name</code>`` (the full path without ``~``), and
drops the directive line that precedes the code block it introduces.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|mod|func|meth|attr|exc|data|obj):<code>(~?)([^<]+)</code>")
DIRECTIVE = re.compile(r"<p>\.\. code-block::\s*\w*</p>\s*")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite leftover Sphinx roles and directives in a page's HTML."""
    return DIRECTIVE.sub("", ROLE.sub(_role, html))

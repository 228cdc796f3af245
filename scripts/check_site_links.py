"""Check that the built docs site browses from the file system: every internal link names a file.

Opened from ``site/`` without a server, a link to ``connection/`` shows the directory's listing (or
nothing), so ``mkdocs.yml`` builds with ``use_directory_urls: false`` (Material's ``offline`` plugin).
This fails if any page links to a directory, or to a page that was not built.

Usage: ``python scripts/check_site_links.py site``
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.targets += [value for name, value in attrs if name == "href" and value]


def broken_links(site: Path) -> list[str]:
    """``page: link (why)`` for each internal link that points to a directory or to nothing.

    :param site: the built site's folder.
    """
    problems = []
    for page in sorted(site.rglob("*.html")):
        if page.name == "404.html":  # only a server shows it, with links from the site's root
            continue
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for href in parser.targets:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path:  # external, or an anchor on the same page
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                problems.append(f"{page.relative_to(site)}: {href} (a directory)")
            elif not target.is_file():
                problems.append(f"{page.relative_to(site)}: {href} (no such file)")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "site")
    pages = list(site.rglob("*.html"))
    if not pages:
        print(f"no HTML pages under {site}/: build the site first (make docs)", file=sys.stderr)
        return 1
    problems = broken_links(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(pages)} pages, {len(problems)} links that do not open from the file system", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The documentation site builds with `mkdocs build --strict`, and no internal link in it is broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs.blocks import ROOT


class _Page(HTMLParser):
    """The ids a page defines and the local links it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(str(values[key]))
        target = values.get("href") if tag in ("a", "link") else values.get("src")
        if target and tag in ("a", "link", "img", "script"):
            self.links.append(target)


def broken_links(site: Path) -> list[str]:
    """`page: link` for every link to a file of the site that is missing or lacks the anchor."""
    pages: dict[Path, _Page] = {}
    site = site.resolve()
    for path in site.rglob("*.html"):
        parsed = _Page()
        parsed.feed(path.read_text(errors="replace"))
        pages[path] = parsed
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            if not parts.path:
                target = path
            elif parts.path.startswith("/"):  # 404.html links from the site's root
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {link} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs is not installed: install the docs extra")
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("" if relative.name == "index" else relative) / "index.html"
        if relative.name == "index":
            built = site / relative.parent / "index.html"
        assert built.is_file(), f"{page} was not built"


def test_no_internal_link_is_broken(site: Path) -> None:
    assert broken_links(site) == []


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<h1 id="top">x</h1><a href="a/">a</a><a href="#top">t</a>'
    )
    (tmp_path / "a" / "index.html").write_text(
        '<a href="../missing/">m</a><a href="../#nowhere">n</a><a href="https://x.io/">x</a>'
    )
    assert broken_links(tmp_path) == [
        "a/index.html: ../missing/",
        "a/index.html: ../#nowhere (no such anchor)",
    ]

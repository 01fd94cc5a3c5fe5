"""mkdocs hooks (mkdocs.yml ``hooks:``): the repository's own Markdown files as site pages, with their links.

The README is the site's front page and a few root files are pages of their own, read where they lie
(nothing is copied). Links are written for the repository (they work on GitHub): a page under
``docs/`` links ``../BENCHMARKS.md``, the README links ``docs/views.md``. Every relative link is
resolved against the file's place in the repository and written again relative to its place in the
site; another repository file a page links (an image under ``bench/``) is added under
``repository/``. A link to a file that does not exist is left as it is, for mkdocs to report.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
#: Repository Markdown files outside ``docs/`` that are pages: repository path -> path in the site.
PAGES = {
    "README.md": "index.md",
    "BENCHMARKS.md": "BENCHMARKS.md",
    "CHANGELOG.md": "CHANGELOG.md",
    "CONTRIBUTING.md": "CONTRIBUTING.md",
    "lightning_gradnap/dashboard/README.md": "dashboard-front-end.md",
}
#: Other repository files (images) linked from a page go here in the site.
OTHER_FILES = "repository"
#: A Markdown link or image target: ``](target)`` or ``](target "title")``.
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
FENCE = re.compile(r"^(```|~~~)", re.M)


def _repository_path(file: File) -> str:
    """Where a site file lies in the repository (POSIX, relative to the root)."""
    return Path(file.abs_src_path or "").resolve().relative_to(ROOT).as_posix()


def _targets(markdown: str, repository_path: str) -> list[str]:
    """Repository paths of the relative links in ``markdown`` (outside code fences)."""
    folder = posixpath.dirname(repository_path)
    found = []
    for part in _prose(markdown):
        for match in LINK.finditer(part):
            target = match.group(2).split("#", 1)[0]
            if target and not re.match(r"^[a-z][a-z0-9+.-]*:|^/", target):
                found.append(posixpath.normpath(posixpath.join(folder, target)))
    return found


def _prose(markdown: str) -> list[str]:
    """The parts of ``markdown`` outside fenced code blocks (every second part between fences)."""
    return _split_fences(markdown)[::2]


def _split_fences(markdown: str) -> list[str]:
    """``markdown`` cut at its fence lines: prose, code, prose, code, ... (code blocks are the odd parts)."""
    parts: list[str] = []
    current: list[str] = []
    inside = False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line.lstrip()):
            parts.append("".join(current))
            current, inside = [line], not inside
            if not inside:  # the closing fence belongs to the code part
                parts[-1] += "".join(current)
                current = []
            continue
        current.append(line)
    parts.append("".join(current))
    return parts


def _site_path(repository_path: str) -> str | None:
    """Where a repository file is in the site, or None when it is in no page's reach."""
    if repository_path in PAGES:
        return PAGES[repository_path]
    if repository_path.startswith("docs/"):
        return repository_path.removeprefix("docs/")
    if (ROOT / repository_path).is_file():
        return f"{OTHER_FILES}/{repository_path}"
    return None


def on_files(files: Files, config: Any) -> Files:
    """Add the repository pages, and the other repository files that pages link."""
    for repository_path, site_path in PAGES.items():
        files.append(File.generated(config, site_path, abs_src_path=str(ROOT / repository_path)))
    linked: set[str] = set()
    for file in list(files):
        if file.src_uri.endswith(".md") and file.abs_src_path:
            linked.update(_targets(Path(file.abs_src_path).read_text(), _repository_path(file)))
    for repository_path in sorted(linked):
        other = _site_path(repository_path)
        if other and other.startswith(f"{OTHER_FILES}/") and not files.get_file_from_path(other):
            files.append(File.generated(config, other, abs_src_path=str(ROOT / repository_path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite the page's relative links from its place in the repository to its place in the site."""
    folder = posixpath.dirname(_repository_path(page.file))
    page_folder = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        target, _, anchor = match.group(2).partition("#")
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:|^/", target):
            return match.group(0)
        site_path = _site_path(posixpath.normpath(posixpath.join(folder, target)))
        if site_path is None:
            return match.group(0)
        relative = posixpath.relpath(site_path, page_folder or ".")
        return f"{match.group(1)}{relative}{'#' + anchor if anchor else ''}{match.group(3)}"

    parts = _split_fences(markdown)
    parts[::2] = [LINK.sub(rewrite, part) for part in parts[::2]]
    return "".join(parts)

"""The documentation site in a real browser: built with ``mkdocs build --strict`` into a temporary folder,
served by ``http.server`` on 127.0.0.1, every page of the nav opened in headless Chromium (Selenium).
Each page has its title, the navigation and a heading, every picture loads, and the console shows no
error; the API reference shows the callback's arguments with their documentation.

Skipped, with what to install, where Chromium, chromium-driver or Selenium are missing. Set
``GRADNAP_SITE_SCREENSHOTS`` to a folder to keep a screenshot of each page there."""

from __future__ import annotations

import ast
import contextlib
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers.dashboard import chromium, console_errors, find_chromium
from tests.helpers.paths import ROOT


def nav_pages(nav: list, section: str = "") -> list[tuple[str, str]]:
    """(title, Markdown path) of every page in mkdocs.yml's nav, in order."""
    pages = []
    for entry in nav:
        ((title, target),) = entry.items()
        pages += nav_pages(target, title) if isinstance(target, list) else [(title, target)]
    return pages


PAGES = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])


def page_url(base: str, markdown: str) -> str:
    """The page's address on the site (directory URLs: ``views.md`` -> ``views/``)."""
    return f"{base}/" if markdown == "index.md" else f"{base}/{markdown.removesuffix('.md')}/"


#: Where the callback's arguments are documented: its own docstring, or (documented once) the option class
#: that the argument of the same name builds.
DOCUMENTED_IN = {
    "lightning_gradnap.callback.gradnap.GradNAPCallback": ROOT / "lightning_gradnap" / "callback" / "gradnap.py",
    "lightning_gradnap.config.EngineOptions": ROOT / "lightning_gradnap" / "config" / "engine.py",
    "lightning_gradnap.config.AnalysisOptions": ROOT / "lightning_gradnap" / "config" / "stages.py",
    "lightning_gradnap.config.ViewOptions": ROOT / "lightning_gradnap" / "config" / "stages.py",
}


def documented_arguments(path: Path, name: str) -> dict[str, str]:
    """The arguments in a class docstring's ``Args:`` section (a dataclass's ``Attributes:``), with the first
    words of each one's text."""
    node = next(node for node in ast.parse(path.read_text()).body if getattr(node, "name", "") == name)
    docstring = ast.get_docstring(node) or ""
    section = re.split(r"^(?:Args|Attributes):$", docstring, maxsplit=1, flags=re.M)[1].split("\n\n", 1)[0]
    args = [line for line in section.splitlines() if line.strip()]
    indent = min(len(line) - len(line.lstrip()) for line in args)  # of the entries; their continuations deeper
    entries = [line.strip().partition(": ") for line in args if len(line) - len(line.lstrip()) == indent]
    return {argument: " ".join(text.replace("``", "").split()[:3]) for argument, _, text in entries}


def callback_arguments() -> list[str]:
    """GradNAPCallback's arguments, in order."""
    source = (ROOT / "lightning_gradnap" / "callback" / "gradnap.py").read_text()
    callback = next(node for node in ast.parse(source).body if getattr(node, "name", "") == "GradNAPCallback")
    init = next(node for node in callback.body if getattr(node, "name", "") == "__init__")
    return [argument.arg for argument in init.args.args[1:] + init.args.kwonlyargs]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site built from this checkout, served on 127.0.0.1 (a free port): yields its URL."""
    find_chromium()  # skip early, naming what to install
    folder = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)]
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    handler = functools.partial(QuietHandler, directory=str(folder))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator:
    """One headless Chromium for this file's tests (started after the site, quit at the end)."""
    with chromium() as driver:
        yield driver


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serving(server: http.server.ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, name="site-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_every_page_renders_with_navigation_and_its_pictures(site: str, browser) -> None:
    from selenium.webdriver.common.by import By

    keep = os.environ.get("GRADNAP_SITE_SCREENSHOTS")
    driver = browser
    for nav_title, markdown in PAGES:
        driver.get(page_url(site, markdown))
        driver.execute_script("return document.fonts.ready")
        heading = driver.find_element(By.CSS_SELECTOR, "article h1").text.rstrip("¶").strip()
        assert heading, f"{markdown} has no heading"
        title = "lightning-gradnap" if markdown == "index.md" else f"{nav_title} - lightning-gradnap"
        assert driver.title == title, (markdown, driver.title)
        nav = driver.find_elements(By.CSS_SELECTOR, "nav.md-nav--primary a.md-nav__link[href]")
        linked = {link.get_attribute("href") for link in nav}
        assert {page_url(site, page) for _, page in PAGES} <= linked, f"{markdown}: the navigation misses pages"
        images = driver.execute_script(
            "return Array.from(document.querySelectorAll('article img'), "
            "i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
        )
        broken = [source for source, loaded in images if not loaded]
        assert not broken, f"{markdown}: pictures that do not load: {broken}"
        assert not console_errors(driver), f"{markdown}: {console_errors(driver)}"
        if keep:
            driver.save_screenshot(str(Path(keep) / f"{markdown.removesuffix('.md')}.png"))
    assert len(PAGES) >= 15


def test_the_pictures_are_there(site: str, browser) -> None:
    """The pages that show the views have their pictures (the test above checks that each one loads)."""
    from selenium.webdriver.common.by import By

    sources = {"index.md": ROOT / "README.md", "views.md": ROOT / "docs" / "views.md", "dashboard.md": None}
    driver = browser
    for markdown, source in sources.items():
        count = (source or ROOT / "docs" / markdown).read_text().count("![")
        assert count >= (8 if markdown == "views.md" else 1), f"{markdown} lost its pictures"
        driver.get(page_url(site, markdown))
        assert len(driver.find_elements(By.CSS_SELECTOR, "article img")) == count, markdown


def test_the_api_reference_documents_every_argument_of_the_callback(site: str, browser) -> None:
    """Each argument's documentation is on the page: in the callback's table, or in the table of the option
    class that documents it (the callback's docstring says so)."""
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(page_url(site, "api.md"))
    shown: dict[str, str] = {}
    for identifier in DOCUMENTED_IN:
        section = driver.find_element(By.ID, identifier)
        block = section.find_element(By.XPATH, "./following-sibling::div[contains(@class, 'doc-contents')]")
        table = block.find_element(By.CSS_SELECTOR, "table")
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
            shown.setdefault(row.find_element(By.CSS_SELECTOR, "td code").text, " ".join(row.text.split()))
    docs = {}
    for identifier, path in reversed(DOCUMENTED_IN.items()):  # the callback's own text first
        docs.update(documented_arguments(path, identifier.rsplit(".", 1)[1]))
    for name in callback_arguments():
        assert name in docs, f"the callback's argument {name} is documented nowhere"
        assert name in shown, f"the API reference does not document the callback's argument {name}"
        assert docs[name] in shown[name], f"{name}: {docs[name]!r} not in {shown[name]!r}"
    assert "layers" in shown and "Module names" in shown["layers"]
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "article h3")]
    for name in ("compute_profiles", "EngineOptions", "Profiles", "write_report"):
        assert any(name in heading for heading in headings), f"the API reference has no {name}: {headings}"

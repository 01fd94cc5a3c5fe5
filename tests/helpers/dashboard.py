"""Dashboard tests: a small run of profile files (no training), TensorBoard served on 127.0.0.1 with the
GradNAP plugin, and headless Chromium (Debian's chromium + chromium-driver) through Selenium; servers and
browsers are always stopped."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap.profiles.result import LayerProfile, Profiles

INSTALL = (
    "the browser tests need Chromium, its driver and Selenium: "
    "`apt-get install -y chromium chromium-driver` and `pip install selenium`"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1400",
)


def find_chromium() -> tuple[str, str]:
    """Paths of the browser and its driver, or skip the test naming what to install."""
    pytest.importorskip("selenium", reason=INSTALL)
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(INSTALL)
    return browser, driver


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium driven by Selenium, in a fresh profile folder, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    profile = tempfile.mkdtemp(prefix="gradnap-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@contextlib.contextmanager
def tensorboard(logdir: Path) -> Iterator[str]:
    """TensorBoard on 127.0.0.1 (a free port) with its default plugins and the GradNAP plugin;
    yields its URL and shuts the server down afterwards."""
    from tensorboard import default, program

    from lightning_gradnap.dashboard.plugin import GradNAPLoader

    # The installed package may already declare the plugin (entry point): add it once.
    plugins = [p for p in default.get_plugins() if getattr(p, "__module__", "") != GradNAPLoader.__module__]
    board = program.TensorBoard(plugins=[*plugins, GradNAPLoader])
    board.configure(logdir=str(logdir), host="127.0.0.1", port=0, load_fast="false", reload_interval=0)
    server = board._make_server()  # launch() would leave the server running: this one is shut down below
    thread = threading.Thread(target=server.serve_forever, name="tensorboard-test", daemon=True)
    thread.start()
    try:
        yield server.get_url().rstrip("/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def make_run(folder: Path, steps: tuple[int, ...] = (10, 20, 30), seed: int = 0) -> dict[int, Profiles]:
    """Profile files of a small run, as the callback names them (no training): 3 layers, 6 groups."""
    rng = np.random.default_rng(seed)
    names = ["AA", "IY", "S", "SH", "M", "N"]
    categories = ["vowel", "vowel", "fricative", "fricative", "nasal", "nasal"]
    written = {}
    for epoch, step in enumerate(steps):
        layers = {}
        for layer, width in (("model.conv1", 16), ("model.conv2", 24), ("model.dense", 12)):
            means = rng.normal(size=(len(names), width)) + np.repeat(rng.normal(size=(3, width)), 2, axis=0)
            counts = np.full(len(names), 5.0)
            if layer == "model.dense" and step == steps[0]:
                means[5], counts[5] = np.nan, 0.0  # an absent group
            profile = means - np.nanmean(means, axis=0)
            profile[counts == 0] = np.nan
            layers[layer] = LayerProfile(profile, means, counts)
        profiles = Profiles(layers, names, categories, {"method": "gradnap"})
        profiles.save(folder / f"epoch={epoch:03d}-step={step:06d}.npz")
        written[step] = profiles
    return written


def add_feature_views(path: Path, bins: int = 4, window: int = 5, seed: int = 3) -> dict[str, np.ndarray]:
    """Add input-feature views (docs/METHOD.md §1.7) to a profile file, under the keys the dashboard reads."""
    rng = np.random.default_rng(seed)
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
        groups = len(data["group_names"])
    views = {
        "feature_means": rng.normal(size=(groups, bins, window)),
        "feature_weighted_means": rng.normal(size=(groups, bins, window)),
        "feature_overall": rng.normal(size=(bins, window)),
        "feature_counts": np.ones(groups),
    }
    np.savez(path, **arrays, **views)
    return views

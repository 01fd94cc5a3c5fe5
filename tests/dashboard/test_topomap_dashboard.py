"""Topographic maps in the dashboard: the route's layout and pixel weights, and the report in a real browser
(headless Chromium): hover a map for the neuron there and its profile over the groups, click a map to show it large.

The browser test is skipped, with what to install, where Chromium, chromium-driver or Selenium are missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap import Profiles
from lightning_gradnap.__main__ import main
from lightning_gradnap.analysis.topomap import TopomapTracker
from lightning_gradnap.analysis.topomap_scores import GRID, grid_maps
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.routes import respond
from tests.dashboard.test_browser import drawn, wait_for
from tests.helpers.dashboard import chromium, console_errors, find_chromium

STEPS = (10, 20, 30)
LAYER, MAPPED = "model.conv2", ("model.conv2", "model.dense")


@pytest.fixture
def logdir(profile_logdir) -> Path:
    """Two runs of profile files; the first with maps of its two upper layers, anchored at step 20."""
    logs = profile_logdir(STEPS, STEPS)
    tracker = TopomapTracker()
    for path in sorted((logs / "version_0" / "profiles").glob("*.npz")):
        profiles = Profiles.load(path)
        step = int(path.stem.split("step=")[1])
        tracker.update(profiles, step, {layer: (20 if step >= 20 else None) for layer in MAPPED}, MAPPED)
        profiles.save(path)
    return logs


def saved(logdir: Path, step: int) -> Profiles:
    return Profiles.load(logdir / "version_0" / "profiles" / f"epoch={STEPS.index(step):03d}-step={step:06d}.npz")


def test_route_gives_the_saved_layout_and_weights_that_paint_the_maps(logdir: Path) -> None:
    dashboard = Dashboard(logdir)
    params = {"run": "version_0", "method": "gradnap", "layer": LAYER, "step": "30"}
    payload = json.loads(respond(dashboard, "topomap", params).body)
    profiles = saved(logdir, 30)
    positions = profiles.orderings[LAYER]["topomap_xy"]
    np.testing.assert_allclose(payload["positions"], positions, atol=1e-5)
    assert payload["anchor"] == 20 and payload["size"] == GRID and "held from step 20" in payload["note"]
    profile = profiles[LAYER].profile
    neurons, weights = np.reshape(payload["neurons"], (-1, 3)), np.reshape(payload["weights"], (-1, 3))
    painted = (profile[:, neurons] * weights).sum(axis=2).reshape(len(profile), GRID, GRID)
    np.testing.assert_allclose(painted, grid_maps(profile, positions)[0], atol=1e-4)  # what the figures show
    early = json.loads(respond(dashboard, "topomap", {**params, "step": "10"}).body)
    assert early["anchor"] is None and "no structure to anchor on yet" in early["note"] and not early["absent"]
    none = json.loads(respond(dashboard, "topomap", {**params, "layer": "model.conv1"}).body)
    assert none["positions"] is None and "maps the last topomap_layers" in none["note"] and not none["absent"]
    other_run = json.loads(respond(dashboard, "topomap", {**params, "run": "version_1"}).body)
    assert other_run["absent"] and "views=[..., 'topomap']" in other_run["note"]  # the panel stays hidden


def test_a_second_methods_maps_are_painted_in_the_first_methods_layout(logdir: Path, tmp_path: Path) -> None:
    gradnap = saved(logdir, 30)
    nap = Profiles.load(logdir / "version_1" / "profiles" / "epoch=002-step=000030.npz")  # same shapes, no layout
    folder = tmp_path / "two_methods" / "version_0" / "profiles"
    folder.mkdir(parents=True)
    Profiles.combine({"gradnap": gradnap, "nap": nap}).save(folder / "epoch=002-step=000030.npz")
    dashboard = Dashboard(tmp_path / "two_methods")
    params = {"run": "version_0", "method": "nap", "layer": LAYER, "step": "30"}
    payload = json.loads(respond(dashboard, "topomap", params).body)
    np.testing.assert_allclose(payload["positions"], gradnap.orderings[LAYER]["topomap_xy"], atol=1e-5)
    assert payload["anchor"] == 20 and payload["note"] == "layout held from step 20, made from the gradnap profile"


def test_report_maps_hover_a_neuron_click_a_group(logdir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    find_chromium()
    report = tmp_path / "report.html"
    main(["report", str(logdir), "-o", str(report), "--no-progress"])
    profiles = saved(logdir, 30)
    profile, positions = profiles[LAYER].profile.astype(np.float32), profiles.orderings[LAYER]["topomap_xy"]
    with chromium() as driver:
        driver.set_window_size(1300, 1400)
        driver.get(report.as_uri())
        wait_for(driver, lambda d: drawn(d).startswith("version_0|model.conv1|30|"), "the first view")
        panel = driver.find_element(By.CSS_SELECTOR, ".topomap.panel")
        wait_for(driver, lambda d: "maps the last topomap_layers" in panel.text, "the note of a layer without maps")
        Select(driver.find_element(By.CSS_SELECTOR, "select.layer")).select_by_visible_text(LAYER)
        wait_for(driver, lambda d: panel.get_attribute("data-state") == "shown", "the maps")
        tiles = panel.find_elements(By.CSS_SELECTOR, "figure.tile")
        names = ["AA", "IY", "S", "SH", "M", "N"]  # tests.helpers.dashboard.make_run: by category already
        assert [tile.text for tile in tiles] == names and "held from step 20" in panel.text

        maps = grid_maps(profile.astype(float), positions)[0]
        for group in (0, 4):  # a red pixel where the map is highest, a blue one where it is lowest
            read = "const c = arguments[0]; return Array.from(c.getContext('2d').getImageData(0, 0, 32, 32).data)"
            rgb = driver.execute_script(read, tiles[group].find_element(By.TAG_NAME, "canvas"))
            pixels = np.reshape(rgb, (GRID * GRID, 4))
            high, low = int(np.argmax(maps[group])), int(np.argmin(maps[group]))
            assert pixels[high, 0] > pixels[high, 2] and pixels[low, 2] > pixels[low, 0]

        canvas = tiles[2].find_element(By.TAG_NAME, "canvas")
        box = panel.find_element(By.CSS_SELECTOR, ".neuron-profile")
        for neuron in (0, 7, 23):
            x, y = positions[neuron]
            size = canvas.size
            ActionChains(driver).move_to_element_with_offset(
                canvas, round((x - 0.5) * size["width"]), round((y - 0.5) * size["height"])
            ).perform()
            wait_for(driver, lambda d, n=neuron: box.get_attribute("data-neuron") == str(n), f"neuron {neuron}")
            items = box.find_elements(By.CSS_SELECTOR, "li")
            shown = {int(item.get_attribute("data-group")): float(item.get_attribute("data-value")) for item in items}
            assert shown == {g: float(profile[g, neuron]) for g in range(len(names))}  # the .npz column, exactly

        tiles[3].click()
        large = panel.find_element(By.CSS_SELECTOR, "canvas.map-large")
        wait_for(driver, lambda d: large.get_attribute("data-group") == "3", "the large map")
        assert "SH: its map" in panel.text and "picked" in tiles[3].get_attribute("class")
        panel.screenshot(str(tmp_path / "topomap_panel.png"))
        assert console_errors(driver) == []

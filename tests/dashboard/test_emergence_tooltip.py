"""The emergence map's tooltip in a real browser (headless Chromium, the offline report): a cell's score,
its chance level and the untrained network's value, all from the files' saved scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightning_gradnap.__main__ import main
from lightning_gradnap.profiles.result import LayerProfile, Profiles, normalize_profiles
from tests.helpers.dashboard import chromium, console_errors, find_chromium

LAYERS = ("model.conv1", "model.conv2")
STEPS = (0, 10, 20)  # 0: the untrained network's profiling, before the first training step
INIT = {"model.conv1": 0.125, "model.conv2": 0.25}


def neighbour(layer: str, step: int) -> float:
    return INIT[layer] + step / 40


def shown(value: float) -> str:
    """``value`` as the page shows it (``toPrecision(4)``)."""
    return f"{value:#.4g}"


def scored_run(folder: Path) -> None:
    """Profile files whose metadata carry each layer's neighbour score, its chance and its init value."""
    rng = np.random.default_rng(0)
    counts = np.full(4, 5.0)
    for epoch, step in enumerate(STEPS):
        layers, scores = {}, {}
        for layer in LAYERS:
            means = rng.normal(size=(4, 8))
            layers[layer] = LayerProfile(normalize_profiles(means, counts), means, counts)
            scores[layer] = {"neighbour": neighbour(layer, step), "neighbour_chance": 0.0625}
            scores[layer]["neighbour_init"] = INIT[layer]
        metadata = {"method": "gradnap", "scores": {"gradnap": scores}}
        path = folder / f"epoch={epoch:03d}-step={step:06d}.npz"
        Profiles(layers, ["AA", "IY", "S", "SH"], None, metadata).save(path)


def test_hovering_a_cell_shows_its_score_chance_and_the_untrained_networks(tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    find_chromium()  # skip early, naming what to install
    scored_run(tmp_path / "logs" / "version_0" / "profiles")
    report = tmp_path / "report.html"
    main(["report", str(tmp_path / "logs"), "-o", str(report), "--no-progress"])
    with chromium() as driver:
        driver.get(report.as_uri())
        wait = WebDriverWait(driver, 30)
        canvas = wait.until(
            lambda d: next((c for c in d.find_elements(By.CSS_SELECTOR, "canvas.emergence") if c.size["height"]), None),
            "the emergence map",
        )
        assert Select(driver.find_element(By.CSS_SELECTOR, "select.score")).first_selected_option.text == "neighbour"
        size = canvas.size
        cell_width, cell_height = (size["width"] - 110 - 8) / len(STEPS), (size["height"] - 36) / len(LAYERS)
        tooltip = driver.find_element(By.CSS_SELECTOR, ".emergence-box .tooltip")
        for row, column in ((1, 2), (0, 1)):
            x, y = 110 + (column + 0.5) * cell_width, (row + 0.5) * cell_height
            offset = (round(x - size["width"] / 2), round(y - size["height"] / 2))  # from the canvas's centre
            ActionChains(driver).move_to_element_with_offset(canvas, *offset).perform()
            layer = LAYERS[row]
            header = f"{layer}, step {STEPS[column]}"
            wait.until(lambda d, header=header: tooltip.is_displayed() and header in tooltip.text, "the tooltip")
            assert tooltip.text.splitlines() == [
                header,
                f"neighbour: {shown(neighbour(layer, STEPS[column]))}",
                f"chance: {shown(0.0625)}",
                f"untrained network (init): {shown(INIT[layer])}",
            ]
        assert console_errors(driver) == []

"""The dashboard in a real browser (headless Chromium through Selenium): the TensorBoard tab on
127.0.0.1 and the offline report from disk. Pick a layer, move the slider, hover a cell: the
tooltip shows the .npz value; compare two steps; the page logs no console errors.

Skipped, with what to install, where Chromium, chromium-driver or Selenium are missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap.__main__ import main
from lightning_gradnap.dashboard.data import Dashboard
from tests.helpers.dashboard import add_feature_views, chromium, console_errors, find_chromium, make_run, tensorboard

STEPS = (10, 20, 30)
LAYER, LAYER_INDEX, WIDTH = "model.conv2", 1, 24


@pytest.fixture
def logdir(profile_logdir) -> Path:
    find_chromium()  # skip early, naming what to install
    logs = profile_logdir(STEPS, STEPS)
    add_feature_views(logs / "version_0" / "profiles" / "epoch=002-step=000030.npz")  # the last step only
    return logs


def wait_for(driver, condition, what: str, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d), message=f"waited {timeout} s for {what}")


def drawn(driver) -> str:
    return driver.execute_script("return document.body.dataset.drawn || ''")


def hover_cell(driver, row: int, column: int) -> dict[str, str]:
    """Move the mouse to the centre of a heatmap cell (display row and column); the tooltip's data."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.CSS_SELECTOR, "canvas.heatmap")
    box = {
        key: float(canvas.get_attribute(f"data-{key}"))
        for key in ("left", "top", "plot-width", "row-height", "first", "end")
    }
    x = box["left"] + (column - box["first"] + 0.5) * box["plot-width"] / (box["end"] - box["first"])
    y = box["top"] + (row + 0.5) * box["row-height"]
    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, round(x - size["width"] / 2), round(y - size["height"] / 2)
    ).perform()
    tooltip = driver.find_element(By.CSS_SELECTOR, ".heatmap-box .tooltip")
    wait_for(driver, lambda d: tooltip.is_displayed(), "the tooltip")
    data = driver.execute_script("return Object.assign({}, arguments[0].dataset)", tooltip)
    return {**data, "text": tooltip.text}


def profile_at(logdir: Path, run: str, step: int) -> np.ndarray:
    with np.load(logdir / run / "profiles" / f"epoch={STEPS.index(step):03d}-step={step:06d}.npz") as data:
        return data[f"profile_{LAYER_INDEX}"].astype(np.float32)


def exercise_the_page(driver, logdir: Path) -> None:
    """What a reader does: layer, slider, hover, a group's panel, compare, play."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    wait_for(driver, lambda d: drawn(d).startswith("version_0|model.conv1|30|tracked"), "the first view")
    Select(driver.find_element(By.CSS_SELECTOR, "select.layer")).select_by_visible_text(LAYER)
    wait_for(driver, lambda d: drawn(d).startswith(f"version_0|{LAYER}|30|"), "the layer")
    driver.find_element(By.CSS_SELECTOR, "input.steps").send_keys(Keys.ARROW_LEFT)
    wait_for(driver, lambda d: drawn(d).startswith(f"version_0|{LAYER}|20|"), "the slider's step")
    assert "step 20, epoch 1 (2/3)" in driver.find_element(By.CSS_SELECTOR, ".step-label").text

    order = Dashboard(logdir).order("version_0", "gradnap", LAYER, 20, "tracked")  # the final step's clustering
    names = ["AA", "IY", "S", "SH", "M", "N"]
    profile = profile_at(logdir, "version_0", 20)
    for row, column in ((0, 0), (2, 7), (5, WIDTH - 1)):
        group, neuron = order["groups"][row], order["neurons"][column]
        tip = hover_cell(driver, row, column)
        assert (tip["group"], int(tip["neuron"])) == (names[group], neuron)
        assert np.float32(float(tip["value"])) == profile[group, neuron]  # the .npz value, exactly
        shown = float(tip["text"].splitlines()[-1].split(": ")[1])
        assert shown == pytest.approx(float(profile[group, neuron]), rel=5e-4, abs=1e-12)
        assert f"neuron {neuron}" in tip["text"] and names[group] in tip["text"]

    ActionChains(driver).click().perform()  # on the last hovered cell: its group's panel
    panel = driver.find_element(By.CSS_SELECTOR, ".group.panel")
    wait_for(driver, lambda d: "most relevant neurons" in panel.text, "the group panel")
    assert panel.find_element(By.TAG_NAME, "h3").text.startswith(f"{tip['group']} (")
    top = [int(item.get_attribute("data-neuron")) for item in panel.find_elements(By.CSS_SELECTOR, "ol.neurons li")]
    assert len(top) == 12 and top == np.argsort(-profile[names.index(tip["group"])], kind="stable")[:12].tolist()
    assert "no input-feature views" in panel.text

    Select(driver.find_element(By.CSS_SELECTOR, "select.compare")).select_by_value("step")
    Select(driver.find_element(By.CSS_SELECTOR, "select.other-step")).select_by_visible_text("10")
    wait_for(
        driver,
        lambda d: (
            drawn(d).endswith("|step") and "compared with step 10" in d.find_element(By.CSS_SELECTOR, ".status").text
        ),
        "the comparison",
    )
    tip = hover_cell(driver, 2, 7)
    group, neuron = order["groups"][2], order["neurons"][7]
    difference = profile[group, neuron] - profile_at(logdir, "version_0", 10)[group, neuron]
    assert np.float32(float(tip["value"])) == difference and "difference:" in tip["text"]
    Select(driver.find_element(By.CSS_SELECTOR, "select.compare")).select_by_value("run")
    wait_for(
        driver,
        lambda d: (
            drawn(d).endswith("|run")
            and "compared with version_1 step 20" in d.find_element(By.CSS_SELECTOR, ".status").text
        ),
        "two runs",
    )
    tip = hover_cell(driver, 2, 7)
    assert (
        np.float32(float(tip["value"])) == profile[group, neuron] - profile_at(logdir, "version_1", 20)[group, neuron]
    )

    Select(driver.find_element(By.CSS_SELECTOR, "select.compare")).select_by_value("off")
    driver.find_element(By.CSS_SELECTOR, "button.play").click()  # from step 20 on: plays step 30, then stops
    wait_for(
        driver,
        lambda d: (
            drawn(d).startswith(f"version_0|{LAYER}|30|") and d.find_element(By.CSS_SELECTOR, "button.play").text == "▶"
        ),
        "the animation",
    )
    figures = wait_for(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, ".group.panel .features canvas.feature"),
        "step 30's feature views",
    )
    assert len(figures) == 2 and "step 30" in panel.find_element(By.TAG_NAME, "h3").text  # mean - overall, x * dy/dx
    wait_for(
        driver, lambda d: d.find_element(By.CSS_SELECTOR, "canvas.emergence").size["height"] > 0, "the emergence map"
    )
    scores = Select(driver.find_element(By.CSS_SELECTOR, "select.score"))
    assert "ami" in [option.text for option in scores.options]
    assert scores.first_selected_option.text == "silhouette"  # a steady score first (no neighbour in these files)
    assert driver.execute_script("return window.gradnap.timings.firstView") > 0


def test_tensorboard_tab_in_a_browser(logdir: Path) -> None:
    from selenium.webdriver.common.by import By

    with tensorboard(logdir) as url, chromium() as driver:
        driver.get(f"{url}/#gradnap")
        frame = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"), "the GradNAP tab's frame")[0]
        driver.switch_to.frame(frame)
        exercise_the_page(driver, logdir)
        # the run goes on training: a new profiling, then the reload button (or its 30 s poll)
        make_run(logdir / "version_0" / "profiles", (40,), seed=5)
        (logdir / "version_0" / "profiles" / "epoch=000-step=000040.npz").rename(
            logdir / "version_0" / "profiles" / "epoch=003-step=000040.npz"
        )
        driver.find_element(By.CSS_SELECTOR, "button.reload").click()
        wait_for(driver, lambda d: drawn(d).startswith(f"version_0|{LAYER}|40|"), "the new profiling")
        assert "step 40, epoch 3 (4/4)" in driver.find_element(By.CSS_SELECTOR, ".step-label").text
        driver.switch_to.default_content()
        assert "GRADNAP" in driver.find_element(By.TAG_NAME, "body").text.upper()  # the tab, by its name
        assert console_errors(driver) == []


def test_offline_report_in_a_browser(logdir: Path, tmp_path: Path) -> None:
    report = tmp_path / "shared" / "report.html"
    main(["report", str(logdir), "-o", str(report), "--no-progress"])
    with chromium() as driver:
        driver.get(report.as_uri())  # from disk: no server
        exercise_the_page(driver, logdir)
        assert driver.execute_script("return location.protocol") == "file:"
        assert console_errors(driver) == []


def test_report_in_a_browser_shows_a_validate_repeat_and_names_a_skipped_file(
    logdir: Path, tmp_path: Path, capsys
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    profiles = logdir / "version_0" / "profiles"
    make_run(tmp_path / "other", (30,), seed=9)  # validate() at the last step, on other data
    (tmp_path / "other" / "epoch=000-step=000030.npz").rename(profiles / "epoch=003-step=000030-validate-1.npz")
    with np.load(profiles / "epoch=001-step=000020.npz") as data:
        arrays = {key: data[key] for key in data.files}
    np.savez(profiles / "epoch=001-step=000020.npz", **{**arrays, "layers": np.array("model.conv1")})  # malformed
    report = tmp_path / "report.html"
    main(["report", str(logdir), "-o", str(report), "--no-progress"])
    assert "warning: GradNAP dashboard: skipped 'epoch=001-step=000020.npz'" in capsys.readouterr().err
    with chromium() as driver:
        driver.get(report.as_uri())
        wait_for(driver, lambda d: drawn(d).startswith("version_0|model.conv1|30 (validate-1)|tracked"), "the repeat")
        assert "step 30 (validate-1), epoch 3 (3/3)" in driver.find_element(By.CSS_SELECTOR, ".step-label").text
        status = driver.find_element(By.CSS_SELECTOR, ".status").text
        assert (
            "step 30 (validate-1)" in status and "skipped (malformed or refused): epoch=001-step=000020.npz" in status
        )
        order = Dashboard(logdir).order("version_0", "gradnap", "model.conv1", 30, "tracked", "validate-1")
        with np.load(profiles / "epoch=003-step=000030-validate-1.npz") as data:
            repeat = data["profile_0"].astype(np.float32)
        tip = hover_cell(driver, 1, 3)
        assert np.float32(float(tip["value"])) == repeat[order["groups"][1], order["neurons"][3]]
        driver.find_element(By.CSS_SELECTOR, "input.steps").send_keys(Keys.ARROW_LEFT)
        wait_for(driver, lambda d: drawn(d).startswith("version_0|model.conv1|30|tracked"), "the fit's step 30")
        assert console_errors(driver) == []

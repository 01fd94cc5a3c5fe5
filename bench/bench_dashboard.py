"""The GradNAP tab at the full model's size, in headless Chromium: first view and slider steps.

40 groups x 2,000 neurons x 10 layers x 40 steps, in the callback's file layout (random profiles
with a category structure, written once into --folder, about 0.5 GB). TensorBoard starts cold
(nothing read, nothing cached) on 127.0.0.1. Times come from the page itself
(``window.gradnap.timings``): the first view is the time from the tab's frame starting to load
to its first heatmap drawn; a slider step is the time from the slider's move to the heatmap drawn.
Needs Chromium, chromium-driver and Selenium (see tests/helpers/dashboard.py).

    .venv/bin/python bench/bench_dashboard.py [--folder /tmp/gradnap-bench] [--steps 20] [--report]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))

from lightning_gradnap.profiles.result import LayerProfile, Profiles  # noqa: E402
from tests.helpers.dashboard import chromium, tensorboard  # noqa: E402

GROUPS, NEURONS, LAYERS, STEPS = 40, 2000, 10, 40


def write_run(folder: Path) -> Path:
    """The run's 40 files (kept between runs of this script)."""
    profiles_folder = folder / "version_0" / "profiles"
    if len(list(profiles_folder.glob("*.npz"))) == STEPS:
        return folder
    rng = np.random.default_rng(0)
    categories = [f"class{g % 6}" for g in range(GROUPS)]
    structure = rng.normal(size=(LAYERS, 6, NEURONS))
    for step in range(STEPS):
        layers = {}
        for layer in range(LAYERS):
            strength = step / STEPS  # the categories emerge over the steps
            means = rng.normal(size=(GROUPS, NEURONS)) + strength * structure[layer][[g % 6 for g in range(GROUPS)]]
            layers[f"model.conv{layer}"] = LayerProfile(means - means.mean(axis=0), means, np.full(GROUPS, 50.0))
        Profiles(layers, [f"g{g:02d}" for g in range(GROUPS)], categories, {"method": "gradnap"}).save(
            profiles_folder / f"epoch={step:03d}-step={(step + 1) * 250:06d}.npz"
        )
    return folder


def wait(driver, script: str, timeout: float = 120.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(f"waited {timeout} s for {script}")


def slider_steps(driver, count: int) -> list[float]:
    """Move the slider back one step at a time; each move's time to the heatmap drawn (ms)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    slider = driver.find_element(By.CSS_SELECTOR, "input.steps")
    times = []
    for _ in range(count):
        before = driver.execute_script("return document.body.dataset.drawn")
        slider.send_keys(Keys.ARROW_LEFT)
        wait(driver, f"return document.body.dataset.drawn !== {before!r}")
        times.append(driver.execute_script("return window.gradnap.timings.lastStep"))
    return times


def measure_tab(folder: Path, steps: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with tensorboard(folder) as url, chromium() as driver:
        started = time.perf_counter()
        driver.get(f"{url}/#gradnap")
        frame = wait(driver, "return document.querySelector('iframe')")
        driver.switch_to.frame(frame)
        wait(driver, "return document.body.dataset.drawn")
        wall = time.perf_counter() - started
        first = driver.execute_script("return window.gradnap.timings.firstView")
        print(
            f"first view, cold server: {first:.0f} ms in the tab's frame ({wall:.2f} s from opening TensorBoard's page)"
        )
        wait(driver, "return window.gradnap.prefetched")
        times = slider_steps(driver, steps // 2)
        print(
            f"slider step (tracked ordering, prefetched; the server computes the emergence map meanwhile): "
            f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms over {len(times)} steps"
        )
        started = time.perf_counter()
        wait(driver, "return document.querySelector('.emergence-box select').options.length")
        print(f"emergence map (400 layer-steps, computed): shown {time.perf_counter() - started:.1f} s later")
        times = slider_steps(driver, steps - steps // 2)
        print(
            f"slider step (tracked ordering, server idle): median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms over {len(times)} steps"
        )
        Select(driver.find_element(By.CSS_SELECTOR, "select.layer")).select_by_index(5)
        wait(driver, "return document.body.dataset.drawn.includes('model.conv5')")
        print(
            "another layer, first view (cold): "
            f"{driver.execute_script('return window.gradnap.timings.lastStep'):.0f} ms"
        )
        times = slider_steps(driver, 3)
        print(f"slider step right after (prefetch still running): {', '.join(f'{t:.0f}' for t in times)} ms")
        Select(driver.find_element(By.CSS_SELECTOR, "select.order")).select_by_value("step")
        wait(driver, "return document.body.dataset.drawn.includes('|step|')")
        times = slider_steps(driver, 3)
        print(
            f"slider step, this step's clustering (neurons clustered on first view of each step): "
            f"{', '.join(f'{t:.0f}' for t in times)} ms"
        )


def measure_report(folder: Path, output: Path) -> None:
    from lightning_gradnap.dashboard.report import write_report

    started = time.perf_counter()
    write_report(folder, output, half=True, progress=False)
    print(f"report --half: written in {time.perf_counter() - started:.0f} s, {output.stat().st_size / 1e6:.0f} MB")
    with chromium() as driver:
        started = time.perf_counter()
        driver.get(output.as_uri())
        wait(driver, "return document.body.dataset.drawn", timeout=300)
        first = driver.execute_script("return window.gradnap.timings.firstView")
        print(
            f"report first view: {first:.0f} ms after the page started loading "
            f"({time.perf_counter() - started:.1f} s wall)"
        )
        times = slider_steps(driver, 10)
        print(f"report slider step: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gradnap-bench"))
    parser.add_argument("--steps", type=int, default=20, help="slider moves to time")
    parser.add_argument("--report", action="store_true", help="also the offline report (minutes to write)")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = write_run(args.folder)
    print(
        f"{GROUPS} groups x {NEURONS} neurons x {LAYERS} layers x {STEPS} steps in {folder} "
        f"({time.perf_counter() - started:.0f} s to write or find)"
    )
    measure_tab(folder, args.steps)
    if args.report:
        measure_report(folder, folder.parent / f"{folder.name}-report.html")


if __name__ == "__main__":
    main()

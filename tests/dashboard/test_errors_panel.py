"""The right/wrong view in the dashboard: the ``errors`` route, the report's payloads, and the panel in a
real browser (headless Chromium), for a run whose groups are split by correctness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap.__main__ import main
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.routes import respond
from lightning_gradnap.profiles.groups import split_group_names
from lightning_gradnap.profiles.result import LayerProfile, Profiles, normalize_profiles
from tests.helpers.dashboard import chromium, console_errors, find_chromium

NAMES = ["AA", "IY", "S", "SH"]
#: Frames per split group: AA 9 right 1 wrong, IY 4/6, S 10/0, SH 2/6; most confused: SH (6 wrong, 3/4 of its
#: frames), IY (6, 3/5), AA.
COUNTS = np.array([9.0, 1.0, 4.0, 6.0, 10.0, 0.0, 2.0, 6.0])


def split_run(folder: Path, steps: tuple[int, ...] = (10, 20)) -> None:
    rng = np.random.default_rng(0)
    for epoch, step in enumerate(steps):
        means = rng.normal(size=(8, 12))
        means[COUNTS == 0] = np.nan
        layer = LayerProfile(normalize_profiles(means, COUNTS), means, COUNTS)
        scores = {"gradnap": {"model.conv": {"right_wrong": 0.5, "right_wrong_noise": 0.25}}}
        metadata = {"method": "gradnap", "split_by_correctness": True, "scores": scores}
        Profiles({"model.conv": layer}, split_group_names(NAMES), None, metadata).save(
            folder / f"epoch={epoch:03d}-step={step:06d}.npz"
        )


def test_the_errors_route_lists_the_most_confused_groups(tmp_path: Path) -> None:
    split_run(tmp_path / "logs" / "version_0" / "profiles")
    dashboard = Dashboard(tmp_path / "logs")
    at = {"run": "version_0", "method": "gradnap", "layer": "model.conv", "step": "20"}
    payload = json.loads(respond(dashboard, "errors", at).body)
    assert payload["split"] is True and payload["right_wrong"] == 0.5 and payload["right_wrong_noise"] == 0.25
    assert [g["name"] for g in payload["groups"]] == ["SH", "IY", "AA"]  # S has no wrong frames
    assert payload["groups"][1] == {"name": "IY", "correct": 2, "wrong": 3, "right_frames": 4, "wrong_frames": 6}
    assert "reason" not in payload  # a score, so no reason for a missing one
    with pytest.raises(Exception, match="no 'gradnap' profile of 'model.conv' at step 5"):
        respond(dashboard, "errors", {**at, "step": "5"})


def test_the_report_shows_the_panel_and_a_click_opens_the_wrong_side(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    find_chromium()  # skip early, naming what to install
    split_run(tmp_path / "logs" / "version_0" / "profiles")
    report = tmp_path / "report.html"
    main(["report", str(tmp_path / "logs"), "-o", str(report), "--no-progress"])
    with chromium() as driver:
        driver.get(report.as_uri())
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".errors .confused-group"), "the right/wrong view")
        panel = driver.find_element(By.CSS_SELECTOR, ".errors.panel")
        assert panel.is_displayed() and "right_wrong 0.5" in panel.text and "noise 0.25" in panel.text
        groups = driver.find_elements(By.CSS_SELECTOR, ".errors .confused-group")
        assert [g.find_element(By.TAG_NAME, "figcaption").text for g in groups] == [
            "SH: 6 of 8 frames wrong",
            "IY: 6 of 10 frames wrong",
            "AA: 1 of 10 frames wrong",
        ]
        canvas = groups[0].find_element(By.TAG_NAME, "canvas")
        assert (canvas.get_attribute("width"), canvas.get_attribute("height")) == ("12", "3")
        groups[1].click()
        wait.until(lambda d: "IY wrong" in d.find_element(By.CSS_SELECTOR, ".group.panel h3").text, "the group panel")
        assert console_errors(driver) == []


def test_the_errors_route_says_why_a_layer_has_no_score(tmp_path: Path) -> None:
    folder = tmp_path / "logs" / "version_0" / "profiles"
    split_run(folder, steps=(10,))
    profiles = Profiles.load(folder / "epoch=000-step=000010.npz")
    profiles.metadata.pop("scores")  # as compute_profiles writes it: no analysis
    profiles.save(folder / "epoch=001-step=000020.npz")
    dashboard = Dashboard(tmp_path / "logs")
    at = {"run": "version_0", "method": "gradnap", "layer": "model.conv", "step": "20"}
    payload = json.loads(respond(dashboard, "errors", at).body)
    assert payload["right_wrong"] is None and payload["reason"].startswith("the file carries no scores")

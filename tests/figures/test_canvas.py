"""Texts drawn from the cache look like Agg's own, wherever and however they sit."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lightning_gradnap.figures import canvas as text_cache
from lightning_gradnap.figures.canvas import CachingCanvas


def _figure() -> Figure:
    figure = Figure(figsize=(4, 3), dpi=100)
    axes = figure.add_axes((0.2, 0.2, 0.7, 0.7))
    axes.plot([0, 1], [0, 1])
    axes.set_title("a title — with a dash")
    axes.set_xlabel("step")
    for row, (name, colour) in enumerate([("AA", "tab:blue"), ("IY", "tab:red"), ("SH", "tab:green")]):
        axes.text(
            -0.02, 0.13 + 0.31 * row, name, transform=axes.get_yaxis_transform(), ha="right", va="center", color=colour
        )
    axes.text(0.5, 0.5, "rotated", rotation=60, ha="right", va="top", rotation_mode="anchor", alpha=0.6)
    axes.text(0.1, 0.8, r"$\alpha^2$")  # mathtext: drawn by Agg as usual
    return figure


def _pixels(canvas_class) -> np.ndarray:
    canvas = canvas_class(_figure())
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).astype(int)


def test_cached_texts_match_agg_up_to_a_quarter_pixel_of_anti_aliasing(monkeypatch) -> None:
    monkeypatch.setattr(text_cache, "_stamps", {})
    monkeypatch.setattr(text_cache, "_metrics", {})
    expected = _pixels(FigureCanvasAgg)
    first = _pixels(CachingCanvas)  # stamps rendered
    assert len(text_cache._stamps) >= 8  # title, label, 3 names, rotated text, tick labels
    again = _pixels(CachingCanvas)  # every text from the cache
    np.testing.assert_array_equal(again, first)
    difference = np.abs(first - expected).max(axis=-1)
    inked = np.abs(expected - 255).max(axis=-1) > 0
    # Measured: at most 41 and 3.4 on average where there is ink. A text one pixel off gives 252 and
    # 83, half a pixel (stamps at whole pixels) 154 and 18.
    assert difference.max() < 64
    assert difference[inked].mean() < 8


def test_a_full_cache_starts_again(monkeypatch) -> None:
    monkeypatch.setattr(text_cache, "_LIMIT", 3)
    monkeypatch.setattr(text_cache, "_stamps", {})
    _pixels(CachingCanvas)
    assert 1 <= len(text_cache._stamps) <= 3

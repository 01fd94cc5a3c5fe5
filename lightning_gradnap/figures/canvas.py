"""Agg drawing that lays out and rasterises each distinct text once per process.

Every profiling draws dozens of figures that name the same groups, layers and steps again.
Matplotlib (3.11) lays out every text and renders it glyph by glyph on every draw, about 0.5 ms
a label, which was half the drawing time of a dendrogram. :class:`CachingCanvas` draws like
``FigureCanvasAgg``, but its renderer keeps each text's metrics and its rendered pixels (a
*stamp*) in process-wide caches and afterwards only composites the stamp.

A stamp is rendered by Agg itself, at the text's sub-pixel position rounded to a quarter pixel,
so a cached text differs from a fresh one by at most that shift of its anti-aliasing. Mathtext,
TeX and texts with font features or a language are drawn as usual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import (
    FigureCanvasAgg,
    RendererAgg,
    get_hinting_flag,
)

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

__all__ = ["BlitFrames", "CachingCanvas", "CachingRenderer"]

_STEPS = 4  # sub-pixel positions per pixel that get their own stamp
_LIMIT = 4096  # entries per cache; a full cache starts again
_metrics: dict[tuple, tuple[float, float, float]] = {}
_stamps: dict[tuple, tuple[np.ndarray, int, int]] = {}  # matplotlib keeps a FreeType font per thread


def _remember(cache: dict, key: tuple, value):
    if len(cache) >= _LIMIT:
        cache.clear()
    cache[key] = value
    return value


class CachingRenderer(RendererAgg):
    """``RendererAgg`` whose text metrics and text pixels come from process-wide caches."""

    def get_text_width_height_descent(self, s, prop, ismath):
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        key = (s, hash(prop), self.dpi, get_hinting_flag())
        found = _metrics.get(key)
        return (
            found
            if found is not None
            else _remember(_metrics, key, super().get_text_width_height_descent(s, prop, ismath))
        )

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        # x, y: the text's origin (left end of the baseline), y downwards, as in RendererAgg.
        plain = mtext is None or (mtext.get_fontfeatures() is None and mtext.get_language() is None)
        if ismath or not plain:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        column, row = math.floor(x), math.floor(y)
        fx, fy = round((x - column) * _STEPS), round((y - row) * _STEPS)
        key = (
            s,
            hash(prop),
            angle,
            gc.get_rgb(),
            gc.get_alpha(),
            gc.get_antialiased(),
            fx,
            fy,
            self.dpi,
            get_hinting_flag(),
        )
        stamp = _stamps.get(key) or _remember(_stamps, key, self._stamp(gc, s, prop, angle, fx / _STEPS, fy / _STEPS))
        pixels, left, top = stamp
        # draw_image takes the image bottom row first and its bottom-left corner, y upwards.
        self.draw_image(gc, column - left, self.height - (row - top) - pixels.shape[0], pixels)

    def _stamp(self, gc, s, prop, angle, fx: float, fy: float) -> tuple[np.ndarray, int, int]:
        """The text rendered by Agg on a transparent patch, and where its origin lies on it."""
        width, height, descent = self.get_text_width_height_descent(s, prop, False)
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        corners = [(u * cos - v * sin, u * sin + v * cos) for u in (0, width) for v in (-descent, height - descent)]
        pad = 2 + math.ceil(prop.get_size_in_points() * self.dpi / 72 / 4)  # glyphs overhang their box a little
        left = pad + math.ceil(-min(u for u, _ in corners))
        top = pad + math.ceil(max(v for _, v in corners))  # y upwards in the corners, downwards on the patch
        patch_width = left + pad + math.ceil(max(u for u, _ in corners)) + 1
        patch_height = top + pad + math.ceil(-min(v for _, v in corners)) + 1
        patch = RendererAgg(patch_width, patch_height, self.dpi)
        patch_gc = patch.new_gc()
        patch_gc.copy_properties(gc)
        patch_gc.set_clip_rectangle(None)
        patch_gc.set_clip_path(None)
        RendererAgg.draw_text(patch, patch_gc, left + fx, top + fy, s, prop, angle)
        patch_gc.restore()
        return np.asarray(patch.buffer_rgba())[::-1].copy(), left, top


class CachingCanvas(FigureCanvasAgg):
    """``FigureCanvasAgg`` drawing with a :class:`CachingRenderer`."""

    def get_renderer(self):
        key = (*self.get_width_height(physical=True), self.figure.dpi)
        if self._lastKey != key:
            self.renderer = CachingRenderer(*key)
            self._lastKey = key
        return self.renderer


class BlitFrames:
    """A figure drawn once, whose ``changing`` artists alone are drawn again for each frame, over the saved
    rest (blitting): the tracked heatmaps (:class:`~lightning_gradnap.figures.tracked.LayerFrames`) and the
    topographic maps (:class:`~lightning_gradnap.figures.topomap.TopomapFrames`) redrawn step by step.

    Args:
        figure: The figure, laid out with any frame's content.
        changing: Its artists that change from frame to frame, in their drawing order.
    """

    def __init__(self, figure: Figure, changing: Sequence[Artist]) -> None:
        self.figure, self.changing = figure, list(changing)
        for artist in self.changing:
            artist.set_animated(True)  # left out of the background, drawn per frame
        self.canvas = CachingCanvas(figure)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(figure.bbox)

    def draw(self) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB of the figure as its changing artists now are."""
        self.canvas.restore_region(self.background)
        for artist in self.changing:
            self.figure.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

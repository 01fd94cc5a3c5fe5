// The profile heatmap: groups (rows) x neurons (columns) on a canvas, in a given order, on a
// colour scale held by the caller. Hover a cell for its numbers; wheel to zoom the columns,
// drag to pan, double-click to see them all; click a row to pick its group.
import { categoryColors, formatValue, packedColor, DIVERGING } from "./colors.js";

const LABEL_WIDTH = 92;
const LEGEND_HEIGHT = 34;

/**
 * What the heatmap draws.
 * @typedef {Object} HeatmapView
 * @property {Float32Array} values The profile [G*C], row-major in the file's order (NaN: absent).
 * @property {number} columns C.
 * @property {number[]} groups Display row -> group.
 * @property {number[]} neurons Display column -> neuron.
 * @property {string[]} names The groups' names, in the file's order.
 * @property {string[]} categories The groups' categories ("" where none).
 * @property {number} limit The colour scale is [-limit, limit].
 * @property {string} label The legend's text.
 * @property {string} [valueLabel] The tooltip's name of a value (default "value").
 * @property {{label: string, values: Float32Array}[]} [parts] Compare mode: both profiles, in the tooltip.
 */

export class Heatmap {
  /**
   * @param {HTMLElement} container Where the canvas and its tooltip go.
   * @param {{onGroupClick: (group: number) => unknown}} handlers `onGroupClick`: a row was clicked (its group).
   */
  constructor(container, { onGroupClick }) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "heatmap";
    this.tooltip = document.createElement("div");
    this.tooltip.className = "tooltip";
    this.tooltip.hidden = true;
    container.append(this.canvas, this.tooltip);
    this.onGroupClick = onGroupClick;
    /** @type {HeatmapView | null} */
    this.view = null;
    this.window = [0, 0]; // visible columns [first, end)
    this.offscreen = document.createElement("canvas");
    this.listen();
  }

  /**
   * Draws `view`; the zoom is kept while the number of columns stays.
   * @param {HeatmapView} view
   */
  show(view) {
    const columns = view.neurons.length;
    if (!this.view || this.view.neurons.length !== columns) this.window = [0, columns];
    this.view = view;
    this.colors = categoryColors(view.categories);
    this.paintCells();
    this.draw();
  }

  // One pixel per cell, in display order; draw() scales the visible part onto the canvas.
  paintCells() {
    const { values, columns, groups, neurons, limit } = this.view;
    const width = neurons.length;
    this.offscreen.width = width;
    this.offscreen.height = groups.length;
    const context = this.offscreen.getContext("2d");
    const image = context.createImageData(width, groups.length);
    const pixels = new Uint32Array(image.data.buffer);
    for (let row = 0; row < groups.length; row++) {
      const offset = groups[row] * columns;
      for (let column = 0; column < width; column++) {
        pixels[row * width + column] = packedColor(values[offset + neurons[column]], limit);
      }
    }
    context.putImageData(image, 0, 0);
  }

  layout() {
    const rows = this.view.groups.length;
    const rowHeight = Math.max(3, Math.min(14, Math.floor(600 / Math.max(rows, 1))));
    const width = Math.max(320, this.canvas.parentElement.clientWidth - 4);
    const plot = { left: LABEL_WIDTH, top: 4, width: width - LABEL_WIDTH - 8, height: rows * rowHeight };
    return { width, height: plot.top + plot.height + LEGEND_HEIGHT, rowHeight, plot };
  }

  draw() {
    const { width, height, rowHeight, plot } = (this.geometry = this.layout());
    const scale = window.devicePixelRatio || 1;
    Object.assign(this.canvas, { width: Math.round(width * scale), height: Math.round(height * scale) });
    Object.assign(this.canvas.style, { width: `${width}px`, height: `${height}px` });
    Object.assign(this.canvas.dataset, { left: plot.left, top: plot.top, plotWidth: plot.width, rowHeight, first: this.window[0], end: this.window[1] });
    const context = this.canvas.getContext("2d");
    context.setTransform(scale, 0, 0, scale, 0, 0);
    context.clearRect(0, 0, width, height);
    const [first, end] = this.window;
    context.imageSmoothingEnabled = end - first > plot.width * scale;
    context.drawImage(this.offscreen, first, 0, end - first, this.view.groups.length, plot.left, plot.top, plot.width, plot.height);
    this.drawLabels(context, rowHeight, plot);
    this.drawLegend(context, plot);
  }

  drawLabels(context, rowHeight, plot) {
    const { groups, names, categories } = this.view;
    if (rowHeight < 7) return; // too many rows to name; the tooltip names them
    context.font = `${Math.min(12, rowHeight)}px sans-serif`;
    context.textAlign = "right";
    context.textBaseline = "middle";
    groups.forEach((group, row) => {
      context.fillStyle = this.colors.get(categories[group]) || "#222";
      context.fillText(names[group], plot.left - 6, plot.top + (row + 0.5) * rowHeight);
    });
  }

  drawLegend(context, plot) {
    const { limit, label } = this.view;
    const top = plot.top + plot.height + 8;
    const barWidth = Math.min(220, plot.width / 3);
    for (let x = 0; x < barWidth; x++) {
      const packed = DIVERGING[Math.round((x / (barWidth - 1)) * 255)];
      context.fillStyle = `rgb(${packed & 255},${(packed >> 8) & 255},${(packed >> 16) & 255})`;
      context.fillRect(plot.left + x, top, 1, 10);
    }
    context.fillStyle = "#333";
    context.font = "11px sans-serif";
    context.textBaseline = "top";
    context.textAlign = "left";
    context.fillText(`${formatValue(-limit)}`, plot.left, top + 12);
    context.textAlign = "right";
    context.fillText(`${formatValue(limit)}`, plot.left + barWidth, top + 12);
    context.textAlign = "left";
    const [first, end] = this.window;
    const columns = this.view.neurons.length;
    const shown = end - first === columns ? `all ${columns} neurons` : `neurons ${first + 1}-${end} of ${columns} (double-click: all)`;
    context.fillText(`${label} · ${shown}`, plot.left + barWidth + 16, top);
    let x = plot.left + barWidth + 16;
    for (const [category, color] of this.colors) {
      if (!category) continue;
      context.fillStyle = color;
      context.fillText(category, x, top + 14);
      x += context.measureText(category).width + 10;
    }
  }

  // The cell under a mouse event, or null.
  cellAt(event) {
    if (!this.view || !this.geometry) return null;
    const { rowHeight, plot } = this.geometry;
    const box = this.canvas.getBoundingClientRect();
    const x = event.clientX - box.left - plot.left;
    const y = event.clientY - box.top - plot.top;
    if (x < 0 || y < 0 || x >= plot.width || y >= plot.height) return null;
    const [first, end] = this.window;
    const row = Math.floor(y / rowHeight);
    const column = first + Math.floor((x / plot.width) * (end - first));
    return { row, column, group: this.view.groups[row], neuron: this.view.neurons[column], x };
  }

  hover(event) {
    const cell = this.cellAt(event);
    if (!cell) return void (this.tooltip.hidden = true);
    const { values, columns, names, categories, parts, valueLabel } = this.view;
    const value = values[cell.group * columns + cell.neuron];
    const category = categories[cell.group] ? ` (${categories[cell.group]})` : "";
    const lines = [`group ${names[cell.group]}${category}`, `neuron ${cell.neuron}`];
    for (const part of parts || []) lines.push(`${part.label}: ${formatValue(part.values[cell.group * columns + cell.neuron])}`);
    lines.push(`${valueLabel || "value"}: ${formatValue(value)}`);
    this.tooltip.textContent = lines.join("\n");
    Object.assign(this.tooltip.dataset, { group: names[cell.group], groupIndex: cell.group, neuron: cell.neuron, value: String(value) });
    this.tooltip.hidden = false;
    const parent = this.canvas.parentElement.getBoundingClientRect(); // the tooltip's positioned parent
    this.tooltip.style.left = `${event.clientX - parent.left + 14}px`;
    this.tooltip.style.top = `${event.clientY - parent.top + 14}px`;
  }

  zoom(event) {
    const cell = this.cellAt(event);
    if (!cell) return;
    event.preventDefault();
    const [first, end] = this.window;
    const columns = this.view.neurons.length;
    const visible = Math.max(8, Math.min(columns, Math.round((end - first) * (event.deltaY > 0 ? 1.25 : 0.8))));
    const anchor = cell.x / this.geometry.plot.width;
    const start = Math.round(cell.column - anchor * visible);
    this.setWindow(start, visible);
  }

  setWindow(start, visible) {
    const columns = this.view.neurons.length;
    start = Math.max(0, Math.min(columns - visible, start));
    this.window = [start, start + visible];
    this.draw();
  }

  listen() {
    let drag = null;
    this.canvas.addEventListener("mousemove", (event) => {
      if (drag && event.buttons === 1) {
        const [first, end] = this.window;
        const shift = Math.round(((drag.x - event.clientX) / this.geometry.plot.width) * (end - first));
        if (shift) {
          drag.moved = true;
          drag.x = event.clientX;
          this.setWindow(first + shift, end - first);
        }
      }
      this.hover(event);
    });
    this.canvas.addEventListener("mouseleave", () => (this.tooltip.hidden = true));
    this.canvas.addEventListener("wheel", (event) => this.zoom(event), { passive: false });
    this.canvas.addEventListener("mousedown", (event) => (drag = { x: event.clientX, moved: false }));
    this.canvas.addEventListener("mouseup", (event) => {
      const cell = this.cellAt(event);
      if (drag && !drag.moved && cell) this.onGroupClick(cell.group);
      drag = null;
    });
    this.canvas.addEventListener("dblclick", () => this.view && this.setWindow(0, this.view.neurons.length));
    window.addEventListener("resize", () => this.view && this.draw());
  }
}

// The emergence map: layers (rows, network order) x profiling steps (columns), coloured by one
// score (silhouette of the categories, AMI of the flat clusters, stability, or a score the files
// carry). Hover a cell for its value, chance level and value in the untrained network (the run's
// profiling before training, step 0's column); click it to show that layer and step.
import { formatValue, scoreColor } from "./colors.js";

const LABEL_WIDTH = 110;

export class EmergenceMap {
  /**
   * @param {HTMLElement} container Where the score picker, the canvas, its note and tooltip go.
   * @param {{onPick: (layer: string, column: number) => unknown}} handlers `onPick`: a cell was clicked
   *     (its layer, and its column in the payload's steps).
   */
  constructor(container, { onPick }) {
    this.picker = Object.assign(document.createElement("select"), { className: "score" });
    this.canvas = Object.assign(document.createElement("canvas"), { className: "emergence" });
    this.tooltip = Object.assign(document.createElement("div"), { className: "tooltip", hidden: true });
    this.note = Object.assign(document.createElement("div"), { className: "note" });
    container.append(this.picker, this.canvas, this.note, this.tooltip);
    this.onPick = onPick;
    /** @type {import("./source.js").EmergencePayload | null} */
    this.data = null;
    this.low = 0; // the shown score's range, set by draw()
    this.high = 1;
    this.picker.addEventListener("change", () => this.draw());
    this.canvas.addEventListener("mousemove", (event) => this.hover(event));
    this.canvas.addEventListener("mouseleave", () => (this.tooltip.hidden = true));
    this.canvas.addEventListener("click", (event) => {
      const cell = this.cellAt(event);
      if (cell) this.onPick(this.data.layers[cell.row], cell.column);
    });
  }

  /**
   * Maps `data`, keeping the picked score if it has it.
   * @param {import("./source.js").EmergencePayload} data
   */
  show(data) {
    const chosen = this.picker.value;
    this.data = data;
    this.picker.replaceChildren(...Object.keys(data.scores).map((name) => new Option(name, name)));
    // The first view opens on a score that moves steadily (neighbour, else silhouette), not the noisy AMI.
    const steady = ["neighbour", "silhouette"].find((name) => data.scores[name]);
    if (data.scores[chosen]) this.picker.value = chosen;
    else if (steady) this.picker.value = steady;
    const computed = data.computed.length ? `computed here with lightning_gradnap.analysis: ${data.computed.join(", ")}` : "";
    this.note.textContent = computed;
    this.draw();
  }

  layout() {
    const { layers, steps } = this.data;
    const width = Math.max(240, this.canvas.parentElement.clientWidth - 4);
    const cellWidth = (width - LABEL_WIDTH - 8) / Math.max(steps.length, 1);
    const cellHeight = Math.max(8, Math.min(22, Math.floor(300 / Math.max(layers.length, 1))));
    return { width, height: layers.length * cellHeight + 36, cellWidth, cellHeight };
  }

  draw() {
    if (!this.data || !this.picker.value) return;
    const { layers, steps, scores } = this.data;
    const table = scores[this.picker.value];
    const { width, height, cellWidth, cellHeight } = (this.geometry = this.layout());
    const finite = table.flat().filter((v) => v !== null);
    [this.low, this.high] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1];
    const scale = window.devicePixelRatio || 1;
    Object.assign(this.canvas, { width: Math.round(width * scale), height: Math.round(height * scale) });
    Object.assign(this.canvas.style, { width: `${width}px`, height: `${height}px` });
    const context = this.canvas.getContext("2d");
    context.setTransform(scale, 0, 0, scale, 0, 0);
    context.clearRect(0, 0, width, height);
    context.font = "11px sans-serif";
    context.textBaseline = "middle";
    context.textAlign = "right";
    layers.forEach((layer, row) => {
      context.fillStyle = "#222";
      context.fillText(layer.length > 18 ? `…${layer.slice(-17)}` : layer, LABEL_WIDTH - 6, (row + 0.5) * cellHeight);
      table[row].forEach((value, column) => {
        context.fillStyle = scoreColor(value, this.low, this.high);
        context.fillRect(LABEL_WIDTH + column * cellWidth, row * cellHeight, Math.ceil(cellWidth), cellHeight - 1);
      });
    });
    context.fillStyle = "#333";
    context.textAlign = "left";
    context.textBaseline = "top";
    const range = `${formatValue(this.low)} (purple) - ${formatValue(this.high)} (yellow)`;
    context.fillText(`steps ${steps[0]} - ${steps[steps.length - 1]} · ${range}`, LABEL_WIDTH, layers.length * cellHeight + 6);
  }

  cellAt(event) {
    if (!this.geometry) return null;
    const box = this.canvas.getBoundingClientRect();
    const { cellWidth, cellHeight } = this.geometry;
    const column = Math.floor((event.clientX - box.left - LABEL_WIDTH) / cellWidth);
    const row = Math.floor((event.clientY - box.top) / cellHeight);
    const { layers, steps } = this.data;
    return row >= 0 && row < layers.length && column >= 0 && column < steps.length ? { row, column } : null;
  }

  hover(event) {
    const cell = this.cellAt(event);
    if (!cell) return void (this.tooltip.hidden = true);
    const name = this.picker.value;
    const value = this.data.scores[name][cell.row][cell.column];
    const against = (kind) => (this.data[kind] && this.data[kind][name] ? this.data[kind][name][cell.row][cell.column] : undefined);
    const [chance, init] = [against("chance"), against("init")];
    const lines = [`${this.data.layers[cell.row]}, step ${this.data.steps[cell.column]}`, `${name}: ${formatValue(value)}`];
    if (chance !== undefined) lines.push(`chance: ${formatValue(chance)}`);
    if (init !== undefined && init !== null) lines.push(`untrained network (init): ${formatValue(init)}`);
    this.tooltip.textContent = lines.join("\n");
    this.tooltip.hidden = false;
    const parent = this.canvas.parentElement.getBoundingClientRect();
    this.tooltip.style.left = `${event.clientX - parent.left + 12}px`;
    this.tooltip.style.top = `${event.clientY - parent.top + 12}px`;
  }
}

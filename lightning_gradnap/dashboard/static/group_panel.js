// The panel of one group (a clicked row): its most relevant neurons at this step, and its view
// in the input domain (mean input window around its segments minus the overall mean, and the
// gradient-weighted window), when the profile file carries feature views.
import { cssColor, formatValue, packedColor } from "./colors.js";

const TOP = 12;

/**
 * One group at one step.
 * @typedef {Object} GroupShown
 * @property {string} name
 * @property {string} category "" where none.
 * @property {string} step Its step's name ("30", or "30 (validate-1)" for a repeat).
 * @property {Float32Array} row Its profile [C].
 * @property {number} limit The colour scale is [-limit, limit].
 * @property {{views: Float32Array, bins: number, window: number, weighted: boolean} | null} features Its
 *     input-feature views [K*F*W] (K = 2 when weighted) and their shape, or null where the file has none.
 * @property {string} missing The note shown where there are no feature views.
 */

/**
 * Fills `panel` with the group's title, its most relevant neurons and its feature views.
 * @param {HTMLElement} panel
 * @param {GroupShown} group
 */
export function showGroup(panel, group) {
  const title = document.createElement("h3");
  title.textContent = `${group.name}${group.category ? ` (${group.category})` : ""}, step ${group.step}`;
  panel.replaceChildren(title, topNeurons(group), featureView(group));
}

function topNeurons({ row, limit }) {
  const order = Array.from(row.keys()).filter((n) => Number.isFinite(row[n]));
  order.sort((a, b) => row[b] - row[a]);
  const list = document.createElement("ol");
  list.className = "neurons";
  if (!order.length) list.textContent = "This group is absent at this step (no frames).";
  for (const neuron of order.slice(0, TOP)) {
    const item = document.createElement("li");
    const bar = Object.assign(document.createElement("span"), { className: "bar" });
    bar.style.width = `${Math.min(140, (Math.abs(row[neuron]) / limit) * 140)}px`;
    bar.style.background = cssColor(row[neuron], limit);
    const label = Object.assign(document.createElement("span"), { className: "label", textContent: `neuron ${neuron}: ${formatValue(row[neuron])}` });
    item.append(label, bar);
    item.dataset.neuron = neuron;
    list.append(item);
  }
  const box = document.createElement("div");
  const heading = Object.assign(document.createElement("h4"), { textContent: `most relevant neurons (highest of ${row.length})` });
  box.append(heading, list);
  return box;
}

function featureView({ features, missing }) {
  const box = document.createElement("div");
  box.className = "features";
  box.append(Object.assign(document.createElement("h4"), { textContent: "input features around its segments" }));
  if (!features) {
    box.append(Object.assign(document.createElement("p"), { className: "note", textContent: missing }));
    return box;
  }
  const { views, bins, window: frames, weighted } = features;
  const labels = ["mean - overall mean", "x * dy/dx"].slice(0, weighted ? 2 : 1);
  labels.forEach((label, k) => {
    const values = views.subarray(k * bins * frames, (k + 1) * bins * frames);
    const limit = Math.max(1e-12, ...Array.from(values, Math.abs).filter(Number.isFinite));
    const canvas = document.createElement("canvas");
    Object.assign(canvas, { width: frames, height: bins, title: `${label} (±${formatValue(limit)}), frames x features` });
    canvas.className = "feature";
    const context = canvas.getContext("2d");
    const image = context.createImageData(frames, bins);
    const pixels = new Uint32Array(image.data.buffer);
    for (let f = 0; f < bins; f++) {
      for (let t = 0; t < frames; t++) pixels[(bins - 1 - f) * frames + t] = packedColor(values[f * frames + t], limit);
    }
    context.putImageData(image, 0, 0);
    const figure = document.createElement("figure");
    figure.append(canvas, Object.assign(document.createElement("figcaption"), { textContent: `${label}, ±${formatValue(limit)}` }));
    box.append(figure);
  });
  return box;
}

// The right/wrong view of a profiling split by correctness (split_by_correctness): the most
// confused groups (most wrong frames first), each with its right and its wrong profile drawn as two
// rows of neurons, one above the other, and their difference below. Click a group to open its
// wrong side in the group panel.
import { formatValue, packedColor } from "./colors.js";

/**
 * The `errors` route's payload.
 * @typedef {Object} ErrorsPayload
 * @property {boolean} split Whether the profiling is split by correctness.
 * @property {{name: string, correct: number, wrong: number, right_frames: number, wrong_frames: number}[]} groups
 *     The most confused groups; `correct` and `wrong` are their rows in the file's order.
 * @property {number | null} right_wrong The layer's mean cosine distance of right and wrong profiles.
 * @property {number | null} right_wrong_noise The same between the two halves of one side.
 * @property {string} [reason] Why `right_wrong` is null.
 */

/**
 * Fills `panel` with the right/wrong view, or hides it when the profiling is not split.
 * @param {HTMLElement} panel
 * @param {ErrorsPayload} payload
 * @param {{values: Float32Array, neurons: number, limit: number, onGroup: (group: number) => unknown}} shown
 *     The profile [G*C] in the file's order, its neurons, the colour limit, and what a click calls.
 */
export function showErrors(panel, payload, { values, neurons, limit, onGroup }) {
  panel.hidden = !payload.split;
  if (!payload.split) return;
  const title = Object.assign(document.createElement("h3"), { textContent: "right and wrong: the most confused groups" });
  const score = Object.assign(document.createElement("p"), { className: "note" });
  score.textContent = payload.right_wrong === null
    ? `right_wrong: none (${payload.reason})`
    : `right_wrong ${formatValue(payload.right_wrong)} (cosine distance of right and wrong profiles), ` +
      `split-half noise ${payload.right_wrong_noise === null ? "none" : formatValue(payload.right_wrong_noise)}`;
  const list = document.createElement("div");
  list.className = "confused";
  if (!payload.groups.length) list.textContent = "No group has wrong frames at this step.";
  for (const group of payload.groups) {
    const item = document.createElement("figure");
    item.className = "confused-group";
    item.dataset.group = String(group.wrong);
    item.title = "rows: right, wrong, wrong - right; click to show the wrong side in the group panel";
    const total = group.right_frames + group.wrong_frames;
    const caption = document.createElement("figcaption");
    caption.textContent = `${group.name}: ${group.wrong_frames} of ${total} frames wrong`;
    item.append(caption, pairCanvas(values, neurons, limit, group));
    item.addEventListener("click", () => onGroup(group.wrong));
    list.append(item);
  }
  panel.replaceChildren(title, score, list);
}

function pairCanvas(values, neurons, limit, { correct, wrong }) {
  const right = values.subarray(correct * neurons, (correct + 1) * neurons);
  const bad = values.subarray(wrong * neurons, (wrong + 1) * neurons);
  const rows = [right, bad, bad.map((value, n) => value - right[n])];
  const canvas = document.createElement("canvas");
  Object.assign(canvas, { width: neurons, height: rows.length });
  const context = canvas.getContext("2d");
  const image = context.createImageData(neurons, rows.length);
  const pixels = new Uint32Array(image.data.buffer);
  rows.forEach((row, r) => row.forEach((value, n) => (pixels[r * neurons + n] = packedColor(value, limit))));
  context.putImageData(image, 0, 0);
  return canvas;
}

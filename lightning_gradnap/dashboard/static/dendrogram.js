// The dendrogram of the groups (average linkage, cosine distance), leaves top-down with their
// names, distance to the right; drawn from scipy's coordinates (the `tree` route).
import { categoryColors } from "./colors.js";

const LABEL_WIDTH = 70;

/**
 * @param {HTMLCanvasElement} canvas Drawn to its parent's width.
 * @param {import("./source.js").TreePayload} tree
 * @param {string[]} names The groups' names, in the file's order.
 * @param {string[]} categories Their categories, for the names' colours.
 */
export function drawDendrogram(canvas, tree, names, categories) {
  const leaves = tree.leaves;
  const rowHeight = Math.max(4, Math.min(13, Math.floor(520 / Math.max(leaves.length, 1))));
  const width = Math.max(220, canvas.parentElement.clientWidth - 4);
  const height = leaves.length * rowHeight + 30;
  const scale = window.devicePixelRatio || 1;
  Object.assign(canvas, { width: Math.round(width * scale), height: Math.round(height * scale) });
  Object.assign(canvas.style, { width: `${width}px`, height: `${height}px` });
  const context = canvas.getContext("2d");
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);
  const top = 4;
  const plotWidth = width - LABEL_WIDTH - 16;
  const highest = Math.max(1e-12, ...tree.dcoord.flat());
  const x = (distance) => LABEL_WIDTH + 4 + (distance / highest) * plotWidth;
  const y = (position) => top + ((position - 5) / 10 + 0.5) * rowHeight; // scipy puts leaf i at 10 i + 5
  context.strokeStyle = "#555";
  context.lineWidth = 1;
  tree.icoord.forEach((positions, link) => {
    context.beginPath();
    positions.forEach((position, corner) => {
      /** @type {[number, number]} */
      const point = [x(tree.dcoord[link][corner]), y(position)];
      corner ? context.lineTo(...point) : context.moveTo(...point);
    });
    context.stroke();
  });
  const colors = categoryColors(categories);
  if (rowHeight >= 7) {
    context.font = `${Math.min(12, rowHeight)}px sans-serif`;
    context.textAlign = "right";
    context.textBaseline = "middle";
    leaves.forEach((group, row) => {
      context.fillStyle = colors.get(categories[group]) || "#222";
      context.fillText(names[group], LABEL_WIDTH, top + (row + 0.5) * rowHeight);
    });
  }
  context.fillStyle = "#333";
  context.font = "11px sans-serif";
  context.textAlign = "left";
  context.textBaseline = "top";
  context.fillText(`cosine distance, 0 - ${highest.toPrecision(3)}`, LABEL_WIDTH + 4, top + leaves.length * rowHeight + 8);
}

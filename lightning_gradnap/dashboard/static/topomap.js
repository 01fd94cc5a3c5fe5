// Topographic maps of a layer: its neurons laid out in 2-D by the similarity of their profiles (the
// layout the callback saved, held from the heatmap's anchor), one small map per group, in the
// heatmap's colours. Hover a map: the neuron under the mouse and its profile over the groups.
// Click a map: that group's map large, with the neurons' places.
import { categoryColors, cssColor, formatValue, packedColor } from "./colors.js";

const LARGE = 288;

/**
 * `topomap?run=&method=&layer=&step=`: a layer's saved layout and each map pixel's neurons and weights.
 * @typedef {Object} TopomapPayload
 * @property {number[][] | null} positions Per neuron [x, y] in [0, 1]; null: the layer has no map.
 * @property {number | null} anchor The step the layout is held from (null: this step's own).
 * @property {number} size Pixels per side S of a map.
 * @property {number[]} neurons [S*S*3]: pixel p (row by row, row = y) is sum_k values[neurons[3p+k]] * weights[3p+k].
 * @property {number[]} weights [S*S*3].
 * @property {string} note Where the layout comes from, or why there is none.
 * @property {boolean} absent The run has no maps at all (the view was off): the panel stays hidden.
 */

/**
 * What to show: the run's groups, the layer's profile and colour limit, and its layout.
 * @typedef {Object} TopomapShown
 * @property {string[]} names The groups' names.
 * @property {string[]} categories One per group ("" where none).
 * @property {string} title The layer and step.
 * @property {Float32Array} values The profile [G*C] in the file's order.
 * @property {number} limit The colour scale is [-limit, limit] (the heatmap's).
 * @property {TopomapPayload} layout
 */

export class TopomapPanel {
  /** @param {HTMLElement} box Where the panel goes. */
  constructor(box) {
    this.box = box;
    this.title = element("h3", { textContent: "topographic maps" });
    this.note = element("p", { className: "note" });
    this.tiles = element("div", { className: "tiles" });
    this.largeTitle = element("h4", { textContent: "click a map to show it large" });
    this.large = /** @type {HTMLCanvasElement} */ (element("canvas", { className: "map-large", width: LARGE, height: LARGE }));
    this.neuron = element("div", { className: "neuron-profile" }, element("p", { className: "note", textContent: "hover a map: the neuron there and its profile over the groups" }));
    const side = element("div", { className: "topomap-side" }, this.largeTitle, this.large, this.neuron);
    box.append(this.title, this.note, element("div", { className: "topomap-body" }, this.tiles, side));
    this.large.addEventListener("mousemove", (event) => this.hover(event));
    /** @type {TopomapShown | null} */
    this.shown = null;
    /** @type {number | null} */
    this.group = null;
  }

  /** @param {TopomapShown} shown */
  show(shown) {
    this.shown = shown;
    const { layout, names } = shown;
    this.box.hidden = layout.absent;
    if (layout.absent) return;
    this.title.textContent = `topographic maps: ${shown.title}`;
    this.note.textContent = layout.note;
    if (!layout.positions) {
      this.box.dataset.state = "none";
      this.tiles.replaceChildren();
      return;
    }
    this.box.dataset.state = "shown";
    const order = categoryOrder(shown.categories);
    const colors = categoryColors(shown.categories);
    this.tiles.replaceChildren(...order.map((group) => {
      const canvas = /** @type {HTMLCanvasElement} */ (element("canvas", { className: "map", width: layout.size, height: layout.size }));
      this.paint(canvas, group);
      canvas.addEventListener("mousemove", (event) => this.hover(event));
      canvas.addEventListener("click", () => this.pick(group));
      const caption = element("figcaption", { textContent: names[group] });
      caption.style.color = colors.get(shown.categories[group] || "");
      const tile = element("figure", { className: "tile", title: `${names[group]}: click to show it large` }, canvas, caption);
      tile.dataset.group = String(group);
      return tile;
    }));  // prettier-ignore
    this.pick(this.group !== null && this.group < names.length ? this.group : order[0]);
  }

  // Paints one group's map into a canvas of S x S pixels.
  paint(canvas, group) {
    const { values, limit, layout } = this.shown;
    const columns = layout.positions.length;
    const row = values.subarray(group * columns, (group + 1) * columns);
    const context = canvas.getContext("2d");
    const image = context.createImageData(layout.size, layout.size);
    const pixels = new Uint32Array(image.data.buffer);
    for (let p = 0; p < pixels.length; p++) {
      let sum = 0;
      for (let k = 0; k < 3; k++) sum += row[layout.neurons[3 * p + k]] * layout.weights[3 * p + k];
      pixels[p] = packedColor(sum, limit);
    }
    context.putImageData(image, 0, 0);
  }

  /** @param {number} group The group (file order) to show large. */
  pick(group) {
    this.group = group;
    const { names, layout } = this.shown;
    this.largeTitle.textContent = `${names[group]}: its map, the neurons' places as dots`;
    this.large.dataset.group = String(group);
    const small = /** @type {HTMLCanvasElement} */ (element("canvas", { width: layout.size, height: layout.size }));
    this.paint(small, group);
    const context = this.large.getContext("2d");
    context.imageSmoothingEnabled = true;
    context.drawImage(small, 0, 0, LARGE, LARGE);
    context.fillStyle = "rgba(0, 0, 0, 0.45)";
    for (const [x, y] of layout.positions) context.fillRect(x * LARGE - 1, y * LARGE - 1, 2, 2);
    for (const tile of this.tiles.children) tile.classList.toggle("picked", /** @type {HTMLElement} */ (tile).dataset.group === String(group));
  }

  // The neuron nearest the mouse on a map, and its profile over the groups.
  hover(event) {
    if (!this.shown || !this.shown.layout.positions) return;
    const canvas = /** @type {HTMLCanvasElement} */ (event.currentTarget);
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width;
    const y = (event.clientY - box.top) / box.height;
    let nearest = 0;
    let best = Infinity;
    this.shown.layout.positions.forEach(([px, py], n) => {
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < best) [best, nearest] = [d, n];
    });
    this.showNeuron(nearest);
  }

  /** @param {number} neuron */
  showNeuron(neuron) {
    const { values, limit, names, categories, layout } = this.shown;
    const columns = layout.positions.length;
    const column = names.map((_, g) => values[g * columns + neuron]);
    const list = element("ol", { className: "neurons groups" });
    for (const group of categoryOrder(categories)) {
      const value = column[group];
      const bar = element("span", { className: "bar" });
      bar.style.width = `${Number.isFinite(value) ? Math.min(140, (Math.abs(value) / limit) * 140) : 0}px`;
      bar.style.background = cssColor(value, limit);
      const item = element("li", {}, element("span", { className: "label", textContent: `${names[group]}: ${formatValue(value)}` }), bar);
      Object.assign(item.dataset, { group: String(group), value: String(value) });
      list.append(item);
    }
    const [x, y] = layout.positions[neuron];
    const heading = element("h4", { textContent: `neuron ${neuron} at (${x.toFixed(2)}, ${y.toFixed(2)}): its profile over the groups` });
    this.neuron.dataset.neuron = String(neuron);
    this.neuron.replaceChildren(heading, list);
  }
}

// Groups by category (in order of first appearance), then by index: the tracked heatmap's rows.
function categoryOrder(categories) {
  const rank = new Map();
  for (const category of categories) if (!rank.has(category)) rank.set(category, rank.size);
  return categories.map((_, g) => g).sort((a, b) => rank.get(categories[a]) - rank.get(categories[b]) || a - b);
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// The page builder: the dashboard's elements and widgets, built once, and updated from what the
// controller passes in (its state and the payloads it fetched). Nothing here fetches or holds
// state beyond the DOM and the widgets' own (the slider's position, the heatmap's zoom).
import { drawDendrogram } from "./dendrogram.js";
import { EmergenceMap } from "./emergence.js";
import { showErrors } from "./errors.js";
import { showGroup } from "./group_panel.js";
import { Heatmap } from "./heatmap.js";
import { StepSlider } from "./slider.js";
import { stepName } from "./source.js";
import { TopomapPanel } from "./topomap.js";

/**
 * @typedef {import("./source.js").RunInfo} RunInfo
 * @typedef {import("./source.js").StepInfo} StepInfo
 * @typedef {import("./source.js").OrderKind} OrderKind
 * @typedef {import("./source.js").OrderPayload} OrderPayload
 * @typedef {import("./source.js").TreePayload} TreePayload
 * @typedef {import("./source.js").EmergencePayload} EmergencePayload
 * @typedef {import("./heatmap.js").HeatmapView} HeatmapView
 */

/**
 * The pickers, by the name the controller knows them: run, method, layer, ordering, compare
 * mode, and the compared step or run.
 * @typedef {"run" | "method" | "layer" | "order" | "compare" | "otherStep" | "otherRun"} ControlName
 */

/**
 * What the page calls when the reader acts; the controller answers.
 * @typedef {Object} PageHandlers
 * @property {(name: ControlName, value: string) => unknown} onControl A picker changed to `value`.
 * @property {() => unknown} onReload The reload button (shown for a live source only).
 * @property {(index: number) => Promise<unknown>} onStep The slider moved to `index`; awaited, so that
 *     the slider draws one step at a time.
 * @property {(group: number) => unknown} onGroup A heatmap row (a group, in the file's order) was clicked.
 * @property {(layer: string, column: number) => unknown} onCell An emergence map cell (a layer, a step's
 *     column) was clicked.
 */

/**
 * The built page: its pickers by {@link ControlName}, the panels, and the widgets.
 * @typedef {{[name in ControlName]: HTMLSelectElement} & {
 *   root: HTMLDivElement, reload: HTMLButtonElement, status: HTMLDivElement, group: HTMLDivElement, errors: HTMLDivElement,
 *   tree: HTMLCanvasElement, treeTitle: HTMLHeadingElement, heatmap: Heatmap, slider: StepSlider,
 *   emergence: EmergenceMap, topomaps: TopomapPanel}} Page
 */

/**
 * A heatmap to show: the run's info, where it is (run, method, layer, step), the ordering, the
 * payloads, and the compared profile in compare mode.
 * @typedef {Object} HeatmapShown
 * @property {RunInfo} info The shown run.
 * @property {{run: string, method: string, layer: string, step: number, repeat?: string}} at The shown profile.
 * @property {OrderKind} kind The ordering picked.
 * @property {Float32Array} values The profile [G*C] in the file's order.
 * @property {OrderPayload} order Its rows' and columns' display order.
 * @property {number} scale The colour limit held for the run.
 * @property {Compared | null} other The compared profile, or null when compare is off.
 */

/**
 * The compare mode's other profile: another step of this run, or the same step of another run.
 * @typedef {Object} Compared
 * @property {"step" | "run"} mode What it is.
 * @property {string} run Its run.
 * @property {string} step Its step's name ("30", or "30 (validate-1)" for a repeat).
 * @property {Float32Array} values Its profile [G*C].
 */

/** @type {Record<OrderKind, string>} */
export const ORDER_LABELS = { tracked: "tracked across the run", step: "this step's clustering", final: "the final step's clustering" };
const COMPARE_LABELS = [["off", "off"], ["step", "another step"], ["run", "another run"]];
/** @type {ControlName[]} */
const CONTROLS = ["run", "method", "layer", "order", "compare", "otherStep", "otherRun"];

/**
 * Builds the page into `root` and wires its controls and widgets to `handlers`.
 * @param {HTMLElement} root Where the page goes (appended).
 * @param {boolean} live Whether new profilings may appear: shows the reload button.
 * @param {PageHandlers} handlers What the reader's actions call.
 * @returns {Page}
 */
export function buildPage(root, live, handlers) {
  const labelled = (text, control) => element("label", {}, `${text} `, control);
  const select = (className) => element("select", { className });
  const parts = {
    run: select("run"), method: select("method"), layer: select("layer"), order: select("order"),
    compare: select("compare"), otherRun: select("other-run"), otherStep: select("other-step"),
    reload: element("button", { className: "reload", textContent: "↻", title: "look for new profilings", hidden: !live }),
    status: element("div", { className: "status" }), slider: element("div", { className: "slider" }),
    heatmap: element("div", { className: "heatmap-box" }), group: element("div", { className: "group panel" }),
    errors: element("div", { className: "errors panel", hidden: true }),
    tree: element("canvas", { className: "tree" }), treeTitle: element("h3"),
    emergence: element("div", { className: "emergence-box" }), topomap: element("div", { className: "topomap panel", hidden: true }),
  };  // prettier-ignore
  for (const [value, text] of Object.entries(ORDER_LABELS)) parts.order.append(new Option(text, value));
  for (const [value, text] of COMPARE_LABELS) parts.compare.append(new Option(text, value));
  parts.group.append(element("p", { className: "note", textContent: "Click a row of the heatmap to see its group here." }));
  const toolbar = element("div", { className: "toolbar" },
    labelled("run", parts.run), labelled("method", parts.method), labelled("layer", parts.layer), labelled("order", parts.order),
    labelled("compare with", parts.compare), element("span", { className: "compare-step" }, labelled("step", parts.otherStep)),
    element("span", { className: "compare-run" }, labelled("run", parts.otherRun)), parts.reload);  // prettier-ignore
  const panels = element("div", { className: "panels" }, parts.group, parts.errors,
    element("div", { className: "panel" }, parts.treeTitle, parts.tree),
    element("div", { className: "panel" }, element("h3", { textContent: "emergence: score per layer and step" }), parts.emergence));  // prettier-ignore
  const pageRoot = element("div", { className: "gradnap" }, toolbar, parts.slider, parts.status, parts.heatmap, parts.topomap, panels);
  pageRoot.dataset.compare = "off";
  root.append(pageRoot);
  /** @type {Page} */
  const page = {
    ...parts, root: pageRoot,
    heatmap: new Heatmap(parts.heatmap, { onGroupClick: handlers.onGroup }),
    slider: new StepSlider(parts.slider, { onChange: handlers.onStep }),
    emergence: new EmergenceMap(parts.emergence, { onPick: handlers.onCell }), topomaps: new TopomapPanel(parts.topomap),
  };  // prettier-ignore
  for (const name of CONTROLS) page[name].addEventListener("change", () => handlers.onControl(name, page[name].value));
  if (live) page.reload.addEventListener("click", () => handlers.onReload());
  return page;
}

/**
 * The pickers' values as built (before any run is listed).
 * @param {Page} page
 * @returns {Record<ControlName, string>}
 */
export function controlValues(page) {
  return /** @type {Record<ControlName, string>} */ (Object.fromEntries(CONTROLS.map((name) => [name, page[name].value])));
}

/**
 * Replaces a picker's options and chooses `value` (else the first option).
 * @param {Page} page
 * @param {ControlName} name The picker.
 * @param {string[]} values Its options.
 * @param {string | undefined} value The one to choose.
 * @returns {string} The chosen value ("" when there are no options).
 */
export function fill(page, name, values, value) {
  const select = page[name];
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (value !== undefined && values.includes(value)) select.value = value;
  return select.value;
}

/**
 * Chooses a value among a picker's options, keeping them.
 * @param {Page} page
 * @param {ControlName} name The picker.
 * @param {string} value The one to choose.
 * @returns {string} The chosen value ("" when `value` is not an option).
 */
export function choose(page, name, value) {
  page[name].value = value;
  return page[name].value;
}

/**
 * Puts the slider on `steps[index]` and fills the compared-step picker with the steps.
 * @param {Page} page
 * @param {StepInfo[]} steps The slider's positions.
 * @param {number} index Where it goes.
 * @param {string} otherStep The compared step to keep, if it is there.
 * @returns {string} The compared step chosen.
 */
export function showSteps(page, steps, index, otherStep) {
  page.slider.setSteps(steps, index);
  return fill(page, "otherStep", steps.map(stepName), otherStep);
}

/**
 * @param {Page} page
 * @param {string} text The status line: what is shown, or what went wrong.
 */
export function showStatus(page, text) {
  page.status.textContent = text;
}

/**
 * Shows or hides the compared step's and run's pickers.
 * @param {Page} page
 * @param {string} mode "off", "step" or "run".
 */
export function showCompareMode(page, mode) {
  page.root.dataset.compare = mode;
}

/**
 * Draws a heatmap (the profile, or its difference with the compared one) and its status line.
 * @param {Page} page
 * @param {HeatmapShown} shown
 */
export function showHeatmap(page, { info, at, kind, values, order, scale, other }) {
  const layer = info.layers.find((l) => l.name === at.layer);
  /** @type {HeatmapView} */
  const view = { values, columns: layer.neurons, groups: order.groups, neurons: order.neurons, names: info.groups,
    categories: info.categories, limit: scale, label: `${at.method}, ${ORDER_LABELS[kind]}` };  // prettier-ignore
  const there = other && comparedName(other.mode, other.run, other.step);
  if (other) Object.assign(view, differenceView(values, other.values, comparedName(other.mode, at.run, stepName(at)), there));
  page.heatmap.show(view);
  const skipped = info.skipped && info.skipped.length ? ` · skipped (malformed or refused): ${info.skipped.map((s) => s.file).join(", ")}` : "";
  const note = (other ? ` · compared with ${there}` : "") + skipped;
  showStatus(page, `${at.run} · ${at.layer} · step ${stepName(at)} · order: ${order.source}${note}`);
}

function comparedName(mode, run, step) {
  return mode === "run" ? `${run} step ${step}` : `step ${step}`;
}

// The compare mode's view: the difference, its own colour limit (99th percentile of |difference|),
// and both profiles for the tooltip.
function differenceView(mine, theirs, here, there) {
  const difference = mine.map((v, i) => v - theirs[i]);
  const magnitudes = difference.filter(Number.isFinite).map(Math.abs).sort();
  const limit = magnitudes.length ? magnitudes[Math.floor(0.99 * (magnitudes.length - 1))] || 1 : 1;
  return { values: difference, limit, label: `difference: ${here} - ${there}`, valueLabel: "difference",
    parts: [{ label: here, values: mine }, { label: there, values: theirs }] };  // prettier-ignore
}

/**
 * Marks the view drawn, for the tests: `document.body.dataset.drawn`.
 * @param {string} key run|layer|step|ordering|compare mode.
 */
export function markDrawn(key) {
  document.body.dataset.drawn = key;
}

/**
 * Draws the groups' dendrogram.
 * @param {Page} page
 * @param {TreePayload} tree
 * @param {RunInfo} info The run, for the groups' names and categories.
 */
export function showTree(page, tree, info) {
  page.treeTitle.textContent = `groups at step ${tree.step} (average linkage, cosine distance)`;
  drawDendrogram(page.tree, tree, info.groups, info.categories);
}

/**
 * Shows one group's panel: its most relevant neurons and its input-feature views.
 * @param {Page} page
 * @param {{info: RunInfo, group: number, layer: string, step: StepInfo, values: Float32Array, scale: number,
 *     features: Float32Array | null}} shown The run, the group and layer, the step, the layer's profile [G*C],
 *     its colour limit, and the group's feature views [K*F*W] (null where the step has none).
 */
export function showGroupPanel(page, { info, group, layer, step, values, scale, features }) {
  const neurons = info.layers.find((l) => l.name === layer).neurons;
  showGroup(page.group, {
    name: info.groups[group], category: info.categories[group], step: stepName(step), limit: scale,
    features: features && { ...info.features, views: features },
    row: values.subarray(group * neurons, (group + 1) * neurons),
    missing: "This profile file has no input-feature views (keys feature_means and feature_overall).",
  });  // prettier-ignore
}

/**
 * Shows the layer's topographic maps at this step (a note where the layer has none).
 * @param {Page} page
 * @param {import("./topomap.js").TopomapShown} shown
 */
export function showTopomap(page, shown) {
  page.topomaps.show(shown);
}

/**
 * The right/wrong view of a profiling split by correctness (hidden otherwise).
 * @param {Page} page
 * @param {import("./errors.js").ErrorsPayload} payload The `errors` route's answer.
 * @param {{values: Float32Array, neurons: number, limit: number, onGroup: (group: number) => unknown}} shown
 */
export function showErrorsPanel(page, payload, shown) {
  showErrors(page.errors, payload, shown);
}

/**
 * @param {Page} page
 * @param {EmergencePayload} data The scores to map.
 */
export function showEmergence(page, data) {
  page.emergence.show(data);
}

/**
 * @param {Page} page
 * @param {string} text The emergence map's note: loading, or what went wrong.
 */
export function showEmergenceNote(page, text) {
  page.emergence.note.textContent = text;
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

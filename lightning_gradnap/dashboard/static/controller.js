// The controller: the dashboard's state (which run, method, layer, step, ordering and comparison
// are shown) and its control logic: what a picker, the slider, a click or the reload does, and
// what it fetches through the data source. It shows everything through page.js and builds no DOM.
import { buildPage, choose, controlValues, fill, markDrawn, showCompareMode, showStatus, showSteps } from "./page.js";
import { showEmergence, showEmergenceNote, showErrorsPanel, showGroupPanel, showHeatmap, showTopomap, showTree } from "./page.js";
import { stepName, stepParams } from "./source.js";

const RELOAD_MS = 30000;

/**
 * @typedef {import("./source.js").Source} Source
 * @typedef {import("./source.js").RunInfo} RunInfo
 * @typedef {import("./source.js").StepInfo} StepInfo
 * @typedef {import("./source.js").OrderKind} OrderKind
 * @typedef {import("./page.js").Page} Page
 * @typedef {import("./page.js").ControlName} ControlName
 * @typedef {import("./page.js").Compared} Compared
 */

/**
 * What the tests read of the page's progress: `window.gradnap`.
 * @typedef {Object} Probe
 * @property {{render?: number, firstView?: number, lastStep?: number}} timings Milliseconds: the first
 *     render, the first view's time since the page loaded, the last step's drawing.
 * @property {string} drawn The last view drawn: run|layer|step|ordering|compare mode.
 * @property {string} [prefetched] The last run|method|layer whose steps were all fetched.
 */

/**
 * @typedef {Object} DashboardState
 * @property {Record<ControlName, string>} picked The pickers' values, as shown.
 * @property {string | null} run The run whose info is loaded (null until one is).
 * @property {RunInfo | null} info That run's info.
 * @property {StepInfo[]} steps Its profilings of the picked method and layer: the slider's positions.
 * @property {number} stepIndex The slider's position in `steps`.
 * @property {number | null} group The clicked group (file order), shown in the group panel.
 * @property {number} token Counts the views asked for; an answer for an older one is dropped.
 * @property {number[]} emergenceSteps The emergence map's columns (steps).
 * @property {boolean} emergenceWanted The emergence map waits for the next prefetch to end.
 */

export class Controller {
  /**
   * Builds the page into `root`; {@link Controller#start} lists the runs and shows the first.
   * @param {HTMLElement} root Where the page goes.
   * @param {Source} source Where the data comes from.
   * @param {Probe} probe Progress marks for the tests (`window.gradnap`).
   */
  constructor(root, source, probe) {
    this.source = source;
    this.probe = probe;
    /** @type {Page} */
    this.page = buildPage(root, source.live, {
      onControl: (name, value) => this.changed(name, value),
      onReload: () => this.reload().catch((e) => this.say(String(e.message || e))),
      onStep: (index) => ((this.state.stepIndex = index), this.showStep()),
      onGroup: (group) => ((this.state.group = group), this.updateGroup()),
      onCell: (layer, column) => this.pickCell(layer, column),
    });
    /** @type {DashboardState} */
    this.state = {
      picked: controlValues(this.page), run: null, info: null, steps: [], stepIndex: 0, group: null, token: 0,
      emergenceSteps: [], emergenceWanted: false,
    };  // prettier-ignore
  }

  /**
   * Lists the runs and shows the first one; a live source is polled for new profilings.
   * @returns {Promise<void>} Done when the first view is asked for (errors go to the status line).
   */
  async start() {
    if (this.source.live) {
      setInterval(() => document.visibilityState === "visible" && this.reload().catch(() => null), RELOAD_MS);
    }
    try {
      await this.loadRuns();
    } catch (error) {
      this.say(String(error.message || error));
    }
  }

  say(text) {
    showStatus(this.page, text);
  }

  /** @returns {StepInfo | undefined} The step on the slider. */
  get step() {
    return this.state.steps[this.state.stepIndex];
  }

  params() {
    const { run, picked } = this.state;
    return { run, method: picked.method, layer: picked.layer };
  }

  // Steps of the run that hold the picked method and layer.
  stepsOf(info) {
    const { method, layer } = this.state.picked;
    return info.steps.filter((s) => s.methods.includes(method) && s.layers.includes(layer));
  }

  /**
   * A picker changed.
   * @param {ControlName} name
   * @param {string} value
   */
  changed(name, value) {
    const state = this.state;
    state.picked[name] = value;
    if (name === "run") return this.loadRun(value, true);
    if (name === "method" || name === "layer") this.setSteps(this.step && this.step.step);
    if (name === "method") state.emergenceWanted = true;
    if (name === "compare") showCompareMode(this.page, value);
    return this.showStep();
  }

  // An emergence map cell: its layer at its step (or the first step, if the layer lacks it).
  pickCell(layer, column) {
    const state = this.state;
    state.picked.layer = choose(this.page, "layer", layer);
    const steps = this.stepsOf(state.info);
    const wanted = state.emergenceSteps[column];
    const index = Math.max(0, steps.findIndex((s) => s.step === wanted));
    Object.assign(state, { steps, stepIndex: index });
    this.page.slider.setSteps(steps, index);
    return this.showStep();
  }

  async loadRuns() {
    const { runs } = await this.source.fresh("runs");
    const picked = this.state.picked;
    picked.run = fill(this.page, "run", runs, picked.run || runs[0]);
    picked.otherRun = fill(this.page, "otherRun", runs, picked.otherRun || runs[runs.length > 1 ? 1 : 0]);
    if (!runs.length) return this.say("No profile files found.");
    await this.loadRun(picked.run);
  }

  async loadRun(name, keepStep = false) {
    /** @type {RunInfo} */
    const info = await this.source.fresh("run", { run: name });
    const previous = keepStep && this.step ? this.step.step : null;
    const state = this.state;
    Object.assign(state, { run: name, info });
    state.picked.method = fill(this.page, "method", info.methods, state.picked.method);
    state.picked.layer = fill(this.page, "layer", info.layers.map((l) => l.name), state.picked.layer);
    this.setSteps(previous);
    state.emergenceWanted = true;
    await this.showStep();
  }

  // Keeps the slider on `wanted` (a step number) if it is there, else goes to the last step.
  setSteps(wanted) {
    const state = this.state;
    const steps = this.stepsOf(state.info);
    const index = steps.findIndex((s) => s.step === wanted);
    Object.assign(state, { steps, stepIndex: index >= 0 ? index : steps.length - 1 });
    const otherStep = state.picked.otherStep || String(steps[0] ? steps[0].step : "");
    state.picked.otherStep = showSteps(this.page, steps, state.stepIndex, otherStep);
  }

  async showStep() {
    const state = this.state;
    const token = ++state.token;
    const step = this.step;
    if (!step) return this.say("This run has no profile of this layer.");
    const started = performance.now();
    const at = { ...this.params(), ...stepParams(step) };
    const kind = /** @type {OrderKind} */ (state.picked.order);
    const source = this.source;
    try {
      const [values, order, { scale }, other] = await Promise.all([
        source.floats("matrix", at), source.json("order", { ...at, kind }), source.json("scale", this.params()), this.compared(at),
      ]);  // prettier-ignore
      if (token !== state.token) return;
      showHeatmap(this.page, { info: state.info, at, kind, values, order, scale, other });
      const elapsed = performance.now() - started;
      this.probe.timings.firstView ??= performance.now();
      this.probe.timings.lastStep = elapsed;
      this.probe.drawn = [at.run, at.layer, step.repeat ? stepName(step) : step.step, kind, state.picked.compare].join("|");
      markDrawn(this.probe.drawn);
      this.updateTree(at, token);
      this.updateTopomap(at, values, scale, token);
      this.updateErrors(at, token, values, scale);
      this.updateGroup();
      this.prefetch(token);
    } catch (error) {
      if (token === state.token) this.say(String(error.message || error));
    }
  }

  /**
   * The compare mode's other profile: another step of this run, or the same step of another run.
   * @param {{run: string, method: string, layer: string, step: number}} at The shown profile.
   * @returns {Promise<Compared | null>} Null when compare is off.
   * @throws {Error} When the other run has no profile of this method and layer with the same groups and neurons.
   */
  async compared(at) {
    const picked = this.state.picked;
    const mode = picked.compare;
    if (mode !== "step" && mode !== "run") return null;
    const chosen = this.state.steps.find((s) => stepName(s) === picked.otherStep) || { step: Number(picked.otherStep) };
    let other = { ...this.params(), ...stepParams(chosen) };
    if (mode === "run") {
      /** @type {RunInfo} */
      const info = await this.source.json("run", { run: picked.otherRun });
      const mine = this.state.info;
      const steps = info.steps.filter((s) => s.methods.includes(at.method) && s.layers.includes(at.layer));
      const layer = info.layers.find((l) => l.name === at.layer);
      const own = mine.layers.find((l) => l.name === at.layer);
      if (!steps.length || !layer || layer.neurons !== own.neurons || info.groups.join() !== mine.groups.join()) {
        throw new Error(`Cannot compare with run ${picked.otherRun}: it has no ${at.method} profile of ${at.layer} with the same groups and neurons.`);
      }
      const step = steps.find((s) => s.step === at.step && s.repeat === (at.repeat || "")) || steps.find((s) => s.step === at.step) || steps[steps.length - 1];
      other = { ...this.params(), run: picked.otherRun, ...stepParams(step) };
    }
    const values = await this.source.floats("matrix", other);
    return { mode, run: other.run, step: stepName(other), values };
  }

  async updateTree(at, token) {
    const tree = await this.source.json("tree", at);
    if (token !== this.state.token) return;
    showTree(this.page, tree, this.state.info);
  }

  async updateTopomap(at, values, limit, token) {
    const layout = await this.source.json("topomap", at);
    if (token !== this.state.token) return;
    const { groups: names, categories } = this.state.info;
    showTopomap(this.page, { names, categories, title: `${at.layer}, step ${stepName(at)}`, values, limit, layout });
  }

  async updateErrors(at, token, values, scale) {
    const info = this.state.info;
    if (!info.metadata.split_by_correctness) return showErrorsPanel(this.page, { split: false, groups: [] }, {});
    const payload = await this.source.json("errors", at);
    if (token !== this.state.token) return;
    const neurons = info.layers.find((l) => l.name === at.layer).neurons;
    const onGroup = (group) => ((this.state.group = group), this.updateGroup());
    showErrorsPanel(this.page, payload, { values, neurons, limit: scale, onGroup });
  }

  async updateGroup() {
    const state = this.state;
    const step = this.step;
    if (state.group === null || !step) return;
    const { info, group } = state;
    const layer = state.picked.layer;
    const values = await this.source.floats("matrix", { ...this.params(), ...stepParams(step) });
    let features = null;
    if (info.features && step.features) features = await this.source.floats("features", { run: state.run, ...stepParams(step), group });
    const { scale } = await this.source.json("scale", this.params());
    showGroupPanel(this.page, { info, group, layer, step, values, scale, features });
  }

  async loadEmergence() {
    const state = this.state;
    const run = state.run;
    const method = state.picked.method;
    showEmergenceNote(this.page, "loading the scores of every layer and step...");
    const data = await this.source.json("emergence", { run, method });
    if (run !== state.run || method !== state.picked.method) return;
    state.emergenceSteps = data.steps;
    showEmergence(this.page, data);
  }

  // Loads the other steps of this layer in the background, so that the slider draws at once;
  // then the emergence map, whose first computation keeps the server busy for a while.
  async prefetch(token) {
    const state = this.state;
    const at = this.params();
    const kind = state.picked.order;
    for (const step of state.steps) {
      if (token !== state.token) return;
      const here = { ...at, ...stepParams(step) };
      await Promise.all([this.source.floats("matrix", here), this.source.json("order", { ...here, kind })]).catch(() => null);
    }
    this.probe.prefetched = [at.run, at.method, at.layer].join("|");
    if (state.emergenceWanted && token === state.token) {
      state.emergenceWanted = false;
      this.loadEmergence().catch((error) => showEmergenceNote(this.page, String(error.message || error)));
    }
  }

  async reload() {
    const state = this.state;
    if (!state.run) return this.loadRuns();
    const { runs } = await this.source.fresh("runs"); // a new run (a new version_N) joins the pickers
    state.picked.run = fill(this.page, "run", runs, state.run);
    state.picked.otherRun = fill(this.page, "otherRun", runs, state.picked.otherRun);
    const before = JSON.stringify(state.info.steps);
    /** @type {RunInfo} */
    const info = await this.source.fresh("run", { run: state.run });
    if (JSON.stringify(info.steps) === before) return;
    const atEnd = state.stepIndex === state.steps.length - 1;
    this.source.cache.clear(); // new profilings: the final step (and its orderings and scores) changed
    state.info = info;
    this.setSteps(atEnd ? null : this.step && this.step.step);
    state.emergenceWanted = true;
    await this.showStep();
  }
}

// The GradNAP dashboard: pickers, step slider, heatmap, group panel, dendrogram and emergence
// map, wired to one data source. TensorBoard imports this module and calls render(); the
// offline report calls render(root, inlineSource(), {stylesheet: false}).
import { drawDendrogram } from "./dendrogram.js";
import { EmergenceMap } from "./emergence.js";
import { showGroup } from "./group_panel.js";
import { Heatmap } from "./heatmap.js";
import { StepSlider } from "./slider.js";
import { serverSource } from "./source.js";

const ORDER_LABELS = { tracked: "tracked across the run", step: "this step's clustering", final: "the final step's clustering" };
const RELOAD_MS = 30000;

export async function render(root = document.body, source = serverSource(), { stylesheet = true } = {}) {
  const started = performance.now();
  window.gradnap = { timings: {}, drawn: "" };
  if (stylesheet) document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: "./style.css" }));
  const page = build(root, source.live);
  const state = { run: null, info: null, group: null, token: 0, other: null };
  const heatmap = new Heatmap(page.heatmap, { onGroupClick: (group) => ((state.group = group), updateGroup()) });
  const slider = new StepSlider(page.slider, { onChange: () => showStep() });
  const emergence = new EmergenceMap(page.emergence, {
    onPick: (layer, column) => {
      page.layer.value = layer;
      const steps = stepsOf(state.info);
      const wanted = state.emergenceSteps[column];
      slider.setSteps(steps, Math.max(0, steps.findIndex((s) => s.step === wanted)));
      return showStep();
    },
  });
  const say = (text) => (page.status.textContent = text);
  const params = () => ({ run: state.run, method: page.method.value, layer: page.layer.value });

  // Steps of the run that hold the chosen method and layer.
  function stepsOf(info) {
    return info.steps.filter((s) => s.methods.includes(page.method.value) && s.layers.includes(page.layer.value));
  }

  async function loadRuns() {
    const { runs } = await source.fresh("runs");
    fill(page.run, runs, page.run.value || runs[0]);
    fill(page.otherRun, runs, page.otherRun.value || runs[runs.length > 1 ? 1 : 0]);
    if (!runs.length) return say("No profile files found.");
    await loadRun(page.run.value);
  }

  async function loadRun(name, keepStep = false) {
    const info = await source.fresh("run", { run: name });
    const previous = keepStep && slider.step ? slider.step.step : null;
    Object.assign(state, { run: name, info });
    fill(page.method, info.methods, info.methods.includes(page.method.value) ? page.method.value : info.methods[0]);
    const layers = info.layers.map((l) => l.name);
    fill(page.layer, layers, layers.includes(page.layer.value) ? page.layer.value : layers[0]);
    setSteps(previous);
    state.emergenceWanted = true;
    await showStep();
  }

  // Keeps the slider on `wanted` (a step number) if it is there, else goes to the last step.
  function setSteps(wanted) {
    const steps = stepsOf(state.info);
    const index = steps.findIndex((s) => s.step === wanted);
    slider.setSteps(steps, index >= 0 ? index : steps.length - 1);
    fill(page.otherStep, steps.map((s) => String(s.step)), page.otherStep.value || String(steps[0] ? steps[0].step : ""));
  }

  async function showStep() {
    const token = ++state.token;
    const step = slider.step;
    if (!step) return say("This run has no profile of this layer.");
    const started = performance.now();
    const at = { ...params(), step: step.step };
    const kind = page.order.value;
    try {
      const [values, order, { scale }, other] = await Promise.all([
        source.floats("matrix", at), source.json("order", { ...at, kind }), source.json("scale", params()), compared(at),
      ]);
      if (token !== state.token) return;
      const info = state.info;
      const layer = info.layers.find((l) => l.name === at.layer);
      const view = { values, columns: layer.neurons, groups: order.groups, neurons: order.neurons, names: info.groups,
        categories: info.categories, limit: scale, label: `${at.method}, ${ORDER_LABELS[kind]}` };  // prettier-ignore
      if (other) Object.assign(view, other.view(values, step));
      heatmap.show(view);
      say(`${at.run} · ${at.layer} · step ${step.step} · order: ${order.source}${other ? ` · ${other.note}` : ""}`);
      const elapsed = performance.now() - started;
      window.gradnap.timings.firstView ??= performance.now();
      window.gradnap.timings.lastStep = elapsed;
      window.gradnap.drawn = [at.run, at.layer, step.step, kind, page.compare.value].join("|");
      document.body.dataset.drawn = window.gradnap.drawn;
      updateTree(at, token);
      updateGroup();
      prefetch(token);
    } catch (error) {
      if (token === state.token) say(String(error.message || error));
    }
  }

  // The compare mode's other matrix: another step of this run, or the same step of another run.
  async function compared(at) {
    const mode = page.compare.value;
    if (mode === "off") return null;
    let other = { ...at, step: Number(page.otherStep.value) };
    if (mode === "run") {
      const info = await source.json("run", { run: page.otherRun.value });
      const steps = info.steps.filter((s) => s.methods.includes(at.method) && s.layers.includes(at.layer));
      const layer = info.layers.find((l) => l.name === at.layer);
      const mine = state.info.layers.find((l) => l.name === at.layer);
      if (!steps.length || !layer || layer.neurons !== mine.neurons || info.groups.join() !== state.info.groups.join()) {
        throw new Error(`Cannot compare with run ${page.otherRun.value}: it has no ${at.method} profile of ${at.layer} with the same groups and neurons.`);
      }
      const step = steps.find((s) => s.step === at.step) || steps[steps.length - 1];
      other = { ...at, run: page.otherRun.value, step: step.step };
    }
    const values = await source.floats("matrix", other);
    const name = mode === "run" ? `${other.run} step ${other.step}` : `step ${other.step}`;
    return {
      note: `compared with ${name}`,
      view: (mine, step) => {
        const difference = mine.map((v, i) => v - values[i]);
        const magnitudes = difference.filter(Number.isFinite).map(Math.abs).sort();
        const limit = magnitudes.length ? magnitudes[Math.floor(0.99 * (magnitudes.length - 1))] || 1 : 1;
        const here = mode === "run" ? `${at.run} step ${step.step}` : `step ${step.step}`;
        return { values: difference, limit, label: `difference: ${here} - ${name}`, valueLabel: "difference",
          parts: [{ label: here, values: mine }, { label: name, values }] };  // prettier-ignore
      },
    };
  }

  async function updateTree(at, token) {
    const tree = await source.json("tree", at);
    if (token !== state.token) return;
    page.treeTitle.textContent = `groups at step ${tree.step} (average linkage, cosine distance)`;
    drawDendrogram(page.tree, tree, state.info.groups, state.info.categories);
  }

  async function updateGroup() {
    if (state.group === null || !slider.step) return;
    const { info, group } = state;
    const step = slider.step;
    const layer = info.layers.find((l) => l.name === page.layer.value);
    const values = await source.floats("matrix", { ...params(), step: step.step });
    let features = null;
    if (info.features && step.features) {
      const views = await source.floats("features", { run: state.run, step: step.step, group });
      features = { ...info.features, views };
    }
    const { scale } = await source.json("scale", params());
    showGroup(page.group, {
      name: info.groups[group], category: info.categories[group], step: step.step, limit: scale, features,
      row: values.subarray(group * layer.neurons, (group + 1) * layer.neurons),
      missing: "This profile file has no input-feature views (keys feature_means and feature_overall).",
    });  // prettier-ignore
  }

  async function loadEmergence() {
    const run = state.run;
    const method = page.method.value;
    emergence.note.textContent = "loading the scores of every layer and step...";
    const data = await source.json("emergence", { run, method });
    if (run !== state.run || method !== page.method.value) return;
    state.emergenceSteps = data.steps;
    emergence.show(data);
  }

  // Loads the other steps of this layer in the background, so that the slider draws at once;
  // then the emergence map, whose first computation keeps the server busy for a while.
  async function prefetch(token) {
    const at = params();
    const kind = page.order.value;
    for (const step of slider.steps) {
      if (token !== state.token) return;
      const here = { ...at, step: step.step };
      await Promise.all([source.floats("matrix", here), source.json("order", { ...here, kind })]).catch(() => null);
    }
    window.gradnap.prefetched = [at.run, at.method, at.layer].join("|");
    if (state.emergenceWanted && token === state.token) {
      state.emergenceWanted = false;
      loadEmergence().catch((error) => (emergence.note.textContent = String(error.message || error)));
    }
  }

  async function reload() {
    if (!state.run) return loadRuns();
    const { runs } = await source.fresh("runs"); // a new run (a new version_N) joins the pickers
    fill(page.run, runs, state.run);
    fill(page.otherRun, runs, page.otherRun.value);
    const before = JSON.stringify(state.info.steps);
    const info = await source.fresh("run", { run: state.run });
    if (JSON.stringify(info.steps) === before) return;
    const atEnd = slider.index === slider.steps.length - 1;
    source.cache.clear(); // new profilings: the final step (and its orderings and scores) changed
    state.info = info;
    setSteps(atEnd ? null : slider.step.step);
    state.emergenceWanted = true;
    await showStep();
  }

  page.run.addEventListener("change", () => loadRun(page.run.value, true));
  page.method.addEventListener("change", () => {
    setSteps(slider.step && slider.step.step);
    state.emergenceWanted = true;
    showStep();
  });
  page.layer.addEventListener("change", () => (setSteps(slider.step && slider.step.step), showStep()));
  for (const control of [page.order, page.otherRun, page.otherStep]) control.addEventListener("change", () => showStep());
  page.compare.addEventListener("change", () => {
    page.root.dataset.compare = page.compare.value;
    showStep();
  });
  if (source.live) {
    page.reload.addEventListener("click", () => reload().catch((e) => say(String(e.message || e))));
    setInterval(() => document.visibilityState === "visible" && reload().catch(() => null), RELOAD_MS);
  }
  try {
    await loadRuns();
  } catch (error) {
    say(String(error.message || error));
  }
  window.gradnap.timings.render = performance.now() - started;
}

// Replaces a <select>'s options, choosing `value`.
function fill(select, values, value) {
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (value !== undefined && values.includes(value)) select.value = value;
}

function build(root, live) {
  const element = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const labelled = (text, control) => element("label", {}, `${text} `, control);
  const select = (className) => element("select", { className });
  const page = {
    run: select("run"), method: select("method"), layer: select("layer"), order: select("order"),
    compare: select("compare"), otherRun: select("other-run"), otherStep: select("other-step"),
    reload: element("button", { className: "reload", textContent: "↻", title: "look for new profilings", hidden: !live }),
    status: element("div", { className: "status" }), slider: element("div", { className: "slider" }),
    heatmap: element("div", { className: "heatmap-box" }), group: element("div", { className: "group panel" }),
    tree: element("canvas", { className: "tree" }), treeTitle: element("h3"),
    emergence: element("div", { className: "emergence-box" }),
  };  // prettier-ignore
  for (const [value, text] of Object.entries(ORDER_LABELS)) page.order.append(new Option(text, value));
  for (const [value, text] of [["off", "off"], ["step", "another step"], ["run", "another run"]]) page.compare.append(new Option(text, value));
  page.group.append(element("p", { className: "note", textContent: "Click a row of the heatmap to see its group here." }));
  const toolbar = element("div", { className: "toolbar" },
    labelled("run", page.run), labelled("method", page.method), labelled("layer", page.layer), labelled("order", page.order),
    labelled("compare with", page.compare), element("span", { className: "compare-step" }, labelled("step", page.otherStep)),
    element("span", { className: "compare-run" }, labelled("run", page.otherRun)), page.reload);  // prettier-ignore
  const panels = element("div", { className: "panels" }, page.group,
    element("div", { className: "panel" }, page.treeTitle, page.tree),
    element("div", { className: "panel" }, element("h3", { textContent: "emergence: score per layer and step" }), page.emergence));  // prettier-ignore
  page.root = element("div", { className: "gradnap" }, toolbar, page.slider, page.status, page.heatmap, panels);
  page.root.dataset.compare = "off";
  root.append(page.root);
  return page;
}

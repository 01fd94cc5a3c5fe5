// The GradNAP dashboard: pickers, step slider, heatmap, group panel, dendrogram and emergence
// map, wired to one data source. TensorBoard imports this module and calls render(); the
// offline report calls render(root, inlineSource(), {stylesheet: false}).
//
// controller.js holds the state and reacts to the controls, fetching through the source;
// page.js builds the page and updates it from what the controller passes in.
import { Controller } from "./controller.js";
import { serverSource } from "./source.js";

/**
 * Builds the dashboard into `root` and shows the first run.
 * @param {HTMLElement} [root] Where the page goes (default: the document's body).
 * @param {import("./source.js").Source} [source] Where the data comes from (default: the plugin's routes).
 * @param {{stylesheet?: boolean}} [options] `stylesheet`: link ./style.css (the report inlines it instead).
 * @returns {Promise<void>} Done when the first view is asked for; errors go to the status line.
 */
export async function render(root = document.body, source = serverSource(), { stylesheet = true } = {}) {
  const started = performance.now();
  /** @type {import("./controller.js").Probe} */
  const probe = { timings: {}, drawn: "" };
  Object.assign(window, { gradnap: probe });
  if (stylesheet) document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: "./style.css" }));
  await new Controller(root, source, probe).start();
  probe.timings.render = performance.now() - started;
}

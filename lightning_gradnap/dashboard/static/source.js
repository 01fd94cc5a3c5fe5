// Where the dashboard's data comes from: the TensorBoard plugin's routes, or the payloads inlined
// in an offline report. Both answer the same requests (route + parameters) with the same bytes.
// The payloads' shapes (lightning_gradnap/dashboard/routes.py) are the typedefs below; `matrix`
// and `features` answer a Float32Array: a profile [G*C] row-major in the file's order (NaN = an
// absent group), and a group's input-feature views [K*F*W].

/** @typedef {"tracked" | "step" | "final"} OrderKind An ordering: tracked across the run, this step's clustering, the final step's. */
/** @typedef {{runs: string[]}} RunsPayload `runs`: the runs' names. */
/** @typedef {{scale: number}} ScalePayload `scale?run=&method=&layer=`: the colour limit held for the run. */

/**
 * A layer of a run.
 * @typedef {Object} LayerInfo
 * @property {string} name Its name.
 * @property {number} neurons Its columns C.
 */

/**
 * One profiling (one .npz file) of a run.
 * @typedef {Object} StepInfo
 * @property {number} step The global step.
 * @property {number | null} epoch The epoch, from the file name.
 * @property {string} repeat The repeat's name ("validate-1": validate() again at the step), "" for the first.
 * @property {string} file The file's name.
 * @property {string[]} methods The methods it holds.
 * @property {string[]} layers The layers it holds.
 * @property {boolean} features Whether it carries input-feature views.
 */

/**
 * `run?run=`: what the pickers and the slider need to know about a run.
 * @typedef {Object} RunInfo
 * @property {string} run Its name.
 * @property {string[]} methods The methods in any of its files.
 * @property {LayerInfo[]} layers The layers in any of its files.
 * @property {string[]} groups The groups' names G, in the files' order.
 * @property {string[]} categories One per group ("" where none).
 * @property {StepInfo[]} steps Its profilings, in step order.
 * @property {{bins: number, window: number, weighted: boolean} | null} features The feature views'
 *     shape (F, W, and K = 2 when weighted), from the last file that has them.
 * @property {OrderKind[]} orderings The orderings the `order` route knows.
 * @property {Object<string, unknown>} metadata The last file's metadata.
 * @property {{file: string, step: number, reason: string}[]} skipped Files left out: malformed, or refused.
 */

/**
 * `order?run=&method=&layer=&step=&kind=`: the heatmap's display order.
 * @typedef {Object} OrderPayload
 * @property {number[]} groups Display row -> group (absent groups last).
 * @property {number[]} neurons Display column -> neuron.
 * @property {string} source Where the ordering came from.
 */

/**
 * `tree?run=&method=&layer=&step=`: the groups' dendrogram, in scipy's drawing coordinates.
 * @typedef {Object} TreePayload
 * @property {number[][]} icoord Per link, its four corners' positions (leaf i at 10 i + 5).
 * @property {number[][]} dcoord Per link, its four corners' distances.
 * @property {number[]} leaves The groups top-down.
 * @property {number} step The step.
 */

/**
 * `emergence?run=&method=`: scores per layer and step.
 * @typedef {Object} EmergencePayload
 * @property {string[]} layers The rows.
 * @property {number[]} steps The columns.
 * @property {Object<string, (number | null)[][]>} scores Score name -> [layer][step] (null: none).
 * @property {Object<string, (number | null)[][]>} chance Score name -> its chance level, same shape.
 * @property {Object<string, (number | null)[][]>} init Score name -> the layer's score in the untrained
 *     network (the run's profiling before training), same shape; absent in older files.
 * @property {string[]} computed The scores computed by the server, not read from the files.
 */

/**
 * The key of a request in the report; lightning_gradnap/dashboard/routes.py:query_key builds the same.
 * @param {string} route
 * @param {Object<string, string | number>} params
 * @returns {string}
 */
/**
 * A profiling's query parameters: its step, and its repeat's name when it is one (a file is identified by both).
 * @param {StepInfo} step
 * @returns {{step: number, repeat?: string}}
 */
export function stepParams(step) {
  return step.repeat ? { step: step.step, repeat: step.repeat } : { step: step.step };
}

/**
 * A profiling's name in labels and pickers: "30", or "30 (validate-1)" for a repeat at step 30.
 * @param {{step: number, repeat?: string}} step
 * @returns {string}
 */
export function stepName(step) {
  return step.repeat ? `${step.step} (${step.repeat})` : String(step.step);
}

export function queryKey(route, params) {
  const entries = Object.entries(params).map(([k, v]) => [String(k), String(v)]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([route, entries]);
}

/**
 * Answers one request: route, parameters, and "json" or "floats".
 * @typedef {(route: string, params: Object<string, string | number>, type: "json" | "floats") => Promise<any>} FetchOne
 */

// Requests answered once: the same request returns the same promise.
export class Source {
  /**
   * @param {FetchOne} fetchOne
   * @param {boolean} live
   */
  constructor(fetchOne, live) {
    this.fetchOne = fetchOne;
    this.live = live; // true: new profilings may appear (a running training)
    /** @type {Map<string, Promise<any>>} */
    this.cache = new Map();
  }
  /**
   * A JSON payload (see the typedefs above for each route's).
   * @param {string} route
   * @param {Object<string, string | number>} [params]
   * @returns {Promise<any>}
   */
  json(route, params = {}) {
    return this.get(route, params, "json");
  }
  /**
   * A binary payload.
   * @param {string} route
   * @param {Object<string, string | number>} params
   * @returns {Promise<Float32Array>}
   */
  floats(route, params) {
    return this.get(route, params, "floats");
  }
  /**
   * Run listings change while a run trains: ask again, never from the cache.
   * @param {string} route
   * @param {Object<string, string | number>} [params]
   * @returns {Promise<any>}
   */
  fresh(route, params = {}) {
    this.cache.delete(queryKey(route, params) + "json");
    return this.json(route, params);
  }
  get(route, params, type) {
    const key = queryKey(route, params) + type;
    if (!this.cache.has(key)) {
      const promise = this.fetchOne(route, params, type);
      promise.catch(() => this.cache.delete(key));
      this.cache.set(key, promise);
    }
    return this.cache.get(key);
  }
}

/**
 * The TensorBoard plugin's routes, relative to the page.
 * @returns {Source}
 */
export function serverSource() {
  return new Source(async (route, params, type) => {
    const response = await fetch(`${route}?${new URLSearchParams(/** @type {Record<string, string>} */ (params))}`);
    if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
    return type === "json" ? response.json() : new Float32Array(await response.arrayBuffer());
  }, true);
}

/**
 * The report's payloads: an index (request key -> element id and encoding) and one
 * <script type="text/plain"> element of base64 per distinct payload, decoded on first use.
 * @param {Document} [doc]
 * @returns {Source}
 */
export function inlineSource(doc = document) {
  const index = JSON.parse(doc.getElementById("gradnap-index").textContent);
  return new Source(async (route, params, type) => {
    const entry = index[queryKey(route, params)];
    if (!entry) throw new Error(`${route}: not in this report (${JSON.stringify(params)})`);
    const text = doc.getElementById(entry.id).textContent;
    if (entry.encoding === "json") return JSON.parse(text);
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    if (entry.encoding !== "float16") return new Float32Array(bytes.buffer);
    const values = halfToFloat(new Uint16Array(bytes.buffer)); // stored times entry.scale (a power of two)
    const scale = entry.scale || 1;
    for (let i = 0; i < values.length; i++) values[i] /= scale;
    return values;
  }, false);
}

// IEEE half precision to Float32Array, through a table of all 65,536 values.
let halfTable = null;
function halfToFloat(halves) {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const fraction = h & 0x3ff;
      halfTable[h] =
        exponent === 0 ? sign * 2 ** -14 * (fraction / 1024)
        : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
    }
  }
  return Float32Array.from(halves, (h) => halfTable[h]);
}

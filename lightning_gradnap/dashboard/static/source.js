// Where the dashboard's data comes from: the TensorBoard plugin's routes, or the payloads inlined
// in an offline report. Both answer the same requests (route + parameters) with the same bytes.

// The key of a request in the report; lightning_gradnap/dashboard/routes.py:query_key builds the same.
export function queryKey(route, params) {
  const entries = Object.entries(params).map(([k, v]) => [String(k), String(v)]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([route, entries]);
}

// Requests answered once: the same request returns the same promise.
class Source {
  constructor(fetchOne, live) {
    this.fetchOne = fetchOne;
    this.live = live; // true: new profilings may appear (a running training)
    this.cache = new Map();
  }
  json(route, params = {}) {
    return this.get(route, params, "json");
  }
  floats(route, params) {
    return this.get(route, params, "floats");
  }
  // Run listings change while a run trains: ask again, never from the cache.
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

export function serverSource() {
  return new Source(async (route, params, type) => {
    const response = await fetch(`${route}?${new URLSearchParams(params)}`);
    if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
    return type === "json" ? response.json() : new Float32Array(await response.arrayBuffer());
  }, true);
}

// The report's payloads: an index (request key -> element id and encoding) and one
// <script type="text/plain"> element of base64 per distinct payload, decoded on first use.
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

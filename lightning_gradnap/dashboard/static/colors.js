// Colours: a diverging map centred on zero (blue - white - red, as the PNG views), category
// colours for group labels, and number formatting for tooltips.

// Anchors of matplotlib's RdBu_r, from -1 (blue) to +1 (red).
const ANCHORS = [
  [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
];
export const MISSING = [220, 220, 220]; // absent groups (NaN)

// 256 RGB entries packed as 0xAABBGGRR (little-endian ImageData order).
export const DIVERGING = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const position = (i / 255) * (ANCHORS.length - 1);
    const low = Math.min(Math.floor(position), ANCHORS.length - 2);
    const t = position - low;
    const [r, g, b] = [0, 1, 2].map((c) => Math.round(ANCHORS[low][c] * (1 - t) + ANCHORS[low + 1][c] * t));
    table[i] = (255 << 24) | (b << 16) | (g << 8) | r;
  }
  return table;
})();
const MISSING_PACKED = (255 << 24) | (MISSING[2] << 16) | (MISSING[1] << 8) | MISSING[0];

/**
 * The packed colour (0xAABBGGRR) of a value on the symmetric scale [-limit, limit]; NaN is grey.
 * @param {number} value
 * @param {number} limit
 * @returns {number}
 */
export function packedColor(value, limit) {
  if (!Number.isFinite(value)) return MISSING_PACKED;
  const index = Math.round(((value / limit + 1) / 2) * 255);
  return DIVERGING[index < 0 ? 0 : index > 255 ? 255 : index];
}

/**
 * The CSS colour of a value on the symmetric scale [-limit, limit].
 * @param {number} value
 * @param {number} limit
 * @returns {string}
 */
export function cssColor(value, limit) {
  const packed = packedColor(value, limit);
  return `rgb(${packed & 255},${(packed >> 8) & 255},${(packed >> 16) & 255})`;
}

// Sequential map for scores (emergence map): light yellow to dark blue (viridis-like).
const SEQUENTIAL = [[253, 231, 37], [94, 201, 98], [33, 145, 140], [59, 82, 139], [68, 1, 84]];
/**
 * The CSS colour of a score on [low, high] (null or NaN: light grey).
 * @param {number | null} value
 * @param {number} low
 * @param {number} high
 * @returns {string}
 */
export function scoreColor(value, low, high) {
  if (value === null || !Number.isFinite(value)) return "rgb(235,235,235)";
  const t = high > low ? Math.min(1, Math.max(0, (value - low) / (high - low))) : 0.5;
  const position = (1 - t) * (SEQUENTIAL.length - 1);
  const i = Math.min(Math.floor(position), SEQUENTIAL.length - 2);
  const f = position - i;
  const c = [0, 1, 2].map((k) => Math.round(SEQUENTIAL[i][k] * (1 - f) + SEQUENTIAL[i + 1][k] * f));
  return `rgb(${c.join(",")})`;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

/**
 * Category -> colour, in order of first appearance ("" stays black).
 * @param {string[]} categories
 * @returns {Map<string, string>}
 */
export function categoryColors(categories) {
  const colors = new Map([["", "#222"]]);
  for (const category of categories) {
    if (!colors.has(category)) colors.set(category, PALETTE[(colors.size - 1) % PALETTE.length]);
  }
  return colors;
}

/**
 * A number for a tooltip or a label: 4 significant digits, or exponent notation; "absent" for none.
 * @param {number | null | undefined} value
 * @returns {string}
 */
export function formatValue(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "absent";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude >= 1e4 || magnitude < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}

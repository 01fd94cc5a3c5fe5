// The step slider: one position per profiling, a label with step and epoch, and play/pause to
// run the profilings as an animation (each frame is drawn before the next one starts).

import { stepName } from "./source.js";

const FRAME_MS = 450;

export class StepSlider {
  /**
   * @param {HTMLElement} container Where the play button, the range and its label go.
   * @param {{onChange: (index: number) => Promise<unknown>}} handlers `onChange`: the position moved;
   *     awaited before the next move is passed on.
   */
  constructor(container, { onChange }) {
    this.onChange = onChange;
    this.button = Object.assign(document.createElement("button"), { className: "play", textContent: "▶", title: "play / pause" });
    this.range = Object.assign(document.createElement("input"), { type: "range", min: "0", max: "0", value: "0", className: "steps" });
    this.label = Object.assign(document.createElement("span"), { className: "step-label" });
    container.append(this.button, this.range, this.label);
    /** @type {import("./source.js").StepInfo[]} */
    this.steps = [];
    this.playing = false;
    this.range.addEventListener("input", () => this.changed());
    this.button.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
  }

  /**
   * New positions; the slider goes to `index` (without calling onChange).
   * @param {import("./source.js").StepInfo[]} steps
   * @param {number} index
   */
  setSteps(steps, index) {
    this.steps = steps;
    this.range.max = String(Math.max(0, steps.length - 1));
    this.range.disabled = steps.length < 2;
    this.button.disabled = steps.length < 2;
    this.range.value = String(index);
    this.updateLabel();
  }

  /** @returns {number} The position. */
  get index() {
    return Number(this.range.value);
  }

  /** @returns {import("./source.js").StepInfo | undefined} The step at the position. */
  get step() {
    return this.steps[this.index];
  }

  updateLabel() {
    const step = this.step;
    const epoch = step && step.epoch !== null ? `, epoch ${step.epoch}` : "";
    this.label.textContent = step ? `step ${stepName(step)}${epoch} (${this.index + 1}/${this.steps.length})` : "";
  }

  // Draws the newest position only: moves that arrive while a frame is drawn are merged.
  async changed() {
    this.updateLabel();
    if (this.drawing) return void (this.pending = true);
    this.drawing = true;
    try {
      do {
        this.pending = false;
        await this.onChange(this.index);
      } while (this.pending);
    } finally {
      this.drawing = false;
    }
  }

  async play() {
    if (this.steps.length < 2) return;
    this.playing = true;
    this.button.textContent = "❚❚";
    if (this.index === this.steps.length - 1) this.range.value = "0";
    else this.range.value = String(this.index + 1);
    while (this.playing) {
      const started = performance.now();
      await this.changed();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, FRAME_MS - (performance.now() - started))));
      if (!this.playing) break;
      if (this.index >= this.steps.length - 1) this.pause();
      else this.range.value = String(this.index + 1);
    }
  }

  pause() {
    this.playing = false;
    this.button.textContent = "▶";
  }
}

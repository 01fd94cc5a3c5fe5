"""Take docs/views.md's TensorBoard screenshots of a run: TensorBoard served on 127.0.0.1 (reading the
log directory only), its pages opened in headless Chromium (Debian's chromium + chromium-driver,
through Selenium), each page cropped and written as a PNG.

    PYTHONPATH=. .venv/bin/python scripts/tensorboard_screenshots.py runs/demo/tensorboard --out docs

(The committed dendrogram, 2-D and Custom Scalars pictures were then cut to 256 colours, for size.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from tests.helpers.dashboard import chromium, tensorboard

#: name, the page's URL fragment, seconds to let it draw, whether images show at their own size, CSS height kept.
SHOTS = (
    ("tb_dendrogram", "#images&tagFilter=dendrogram/07", 10, True, 1000),
    ("tb_groups_2d", "#images&tagFilter=groups_2d/07", 10, True, 900),
    ("tb_agreement", "#images&tagFilter=agreement", 10, True, 900),
    ("tb_features", "#images&tagFilter=features", 10, True, 760),
    ("tb_custom_scalars", "#custom_scalars", 14, False, 1000),
)
#: Ticks TensorBoard's "Show actual image size" box (it lies inside shadow roots) unless it is ticked.
ACTUAL_SIZE = """
const found = [];
const walk = (node) => {
  if (node.nodeType === 1 && node.tagName === "PAPER-CHECKBOX" && /actual image size/i.test(node.textContent))
    found.push(node);
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.children || []) walk(child);
};
walk(document.documentElement);
found.filter((box) => !box.checked).forEach((box) => box.click());
return found.length;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", type=Path, help="a TensorBoard log directory (runs with profiles/*.npz)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where the PNGs go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tensorboard(args.logdir) as url, chromium() as driver:
        metrics = {"width": 1280, "height": 1200, "deviceScaleFactor": 2, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        for name, fragment, seconds, actual_size, height in SHOTS:
            driver.get(f"{url}/{fragment}")
            time.sleep(seconds)
            if actual_size and driver.execute_script(ACTUAL_SIZE):
                time.sleep(4)
            path = args.out / f"{name}.png"
            driver.save_screenshot(str(path))
            image = Image.open(path)
            image = image.crop((0, 0, image.width, min(image.height, 2 * height)))
            image.resize((image.width * 5 // 8, image.height * 5 // 8), Image.Resampling.LANCZOS).save(
                path, optimize=True
            )
            print(path)


if __name__ == "__main__":
    main()

"""Code for a subprocess that must run as on a machine without some packages (``lightning``, the ``asr`` extra)."""


def blocking(*packages: str) -> str:
    """Code that makes ``packages`` (top-level import names) and their submodules unimportable."""
    return f"""
import importlib.abc, sys
class BlockPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {packages!r}:
            raise ModuleNotFoundError(f'No module named {{name!r}} (blocked by the test)', name=name)
        return None
sys.meta_path.insert(0, BlockPackages())
"""


# Makes `lightning` and `pytorch_lightning` unimportable, as on a machine without them.
BLOCK_LIGHTNING = blocking("lightning", "pytorch_lightning")
#: The import names of what the ``asr`` extra adds to the core (torchmetrics comes with lightning anyway).
ASR_ONLY = ("torchaudio", "soundfile", "praatio", "espeakng_loader")
# Makes the asr extra's own packages unimportable, as after ``pip install lightning-gradnap`` (the core only).
BLOCK_ASR = blocking(*ASR_ONLY)

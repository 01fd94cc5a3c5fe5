"""Code for a subprocess that must run as on a machine without ``lightning``."""

# Makes `lightning` and `pytorch_lightning` unimportable, as on a machine without them.
BLOCK_LIGHTNING = """
import importlib.abc, sys
class BlockLightning(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('lightning', 'pytorch_lightning'):
            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)', name=name)
        return None
sys.meta_path.insert(0, BlockLightning())
"""

"""The options of one profiling, as dataclasses with their allowed values and checks.

Each option is documented once, on its dataclass. The boundaries take them as flat, typed arguments and build
these objects: :class:`~lightning_gradnap.GradNAPCallback` (whose ``Literal`` types LightningCLI
reads) and :func:`~lightning_gradnap.compute_profiles`; inside, the engine takes
:class:`EngineOptions`, the analysis :class:`AnalysisOptions` and the views :class:`ViewOptions`.
An option out of its range fails when the object is made, with a ``ValueError`` that names the
option and what it allows. Callback arguments given as text in YAML (a function named by its
dotted path) are resolved by :func:`resolve_callable`. This package imports nothing else of
``lightning_gradnap``, so every stage may import it.
"""

from lightning_gradnap.config.choices import (
    BLANK_FRAMES,
    CLUSTERINGS,
    DEFAULT_VIEWS,
    EMBEDDINGS,
    LABEL_LEVELS,
    METHODS,
    OBJECTIVE_NAMES,
    SCALES,
    VIEWS,
    WINDOW_CENTRES,
    BlankFrames,
    Clustering,
    Embedding,
    LabelLevel,
    Method,
    Objective,
    Scale,
    WindowCenter,
    check_clustering,
)
from lightning_gradnap.config.engine import EngineOptions
from lightning_gradnap.config.resolve import as_plain_dict, resolve_callable
from lightning_gradnap.config.stages import AnalysisOptions, FaithfulnessOptions, ViewOptions

__all__ = [
    "CLUSTERINGS",
    "DEFAULT_VIEWS",
    "EMBEDDINGS",
    "LABEL_LEVELS",
    "METHODS",
    "OBJECTIVE_NAMES",
    "SCALES",
    "VIEWS",
    "WINDOW_CENTRES",
    "BLANK_FRAMES",
    "AnalysisOptions",
    "BlankFrames",
    "Clustering",
    "Embedding",
    "EngineOptions",
    "FaithfulnessOptions",
    "LabelLevel",
    "Method",
    "Objective",
    "Scale",
    "ViewOptions",
    "WindowCenter",
    "as_plain_dict",
    "check_clustering",
    "resolve_callable",
]

"""The option dataclasses: their checks name the option and what it allows, the boundaries' flat
arguments build them with the same defaults, and the engine takes them."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest
import torch

from lightning_gradnap import ProfileEngine, compute_profiles
from lightning_gradnap.config import (
    CLUSTERINGS,
    EMBEDDINGS,
    LABEL_LEVELS,
    METHODS,
    OBJECTIVE_NAMES,
    VIEWS,
    WINDOW_CENTRES,
    AnalysisOptions,
    EngineOptions,
    ViewOptions,
)
from lightning_gradnap.recording import objectives


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="grad"), rf"`method` should be one of \{list(METHODS)}, got 'grad'"),
        (dict(method=["nap", "nap"]), r"`method` should name each of \['gradnap', 'nap'\] at most once"),
        (dict(objective="loss"), rf"Unknown objective 'loss': `objective` should be one of \{list(OBJECTIVE_NAMES)}"),
        (dict(label_level="word"), rf"`label_level` should be one of \{list(LABEL_LEVELS)}, got 'word'"),
        (dict(window_center="edge"), rf"`window_center` should be one of \{list(WINDOW_CENTRES)}, got 'edge'"),
        (dict(window=0), "`window` must be a positive number of frames, with label_level='frame'"),
        (dict(window=3, label_level="utterance"), "`window` must be a positive number of frames"),
        (dict(input_window=0), "`input_window` must be a positive number of frames"),
        (dict(method="nap", window=3, window_center="salient"), "window_center='salient' needs gradients"),
        (dict(output_transform="logits"), "`output_transform` should be a callable or None, got 'logits'"),
    ],
)
def test_engine_options_name_the_option_and_what_it_allows(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        EngineOptions(**options)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: AnalysisOptions(clustering="ward"), rf"`clustering` should be one of \{list(CLUSTERINGS)}"),
        (lambda: AnalysisOptions(num_clusters=1), "`num_clusters` should be at least 2, got 1"),
        (lambda: AnalysisOptions(scale="max"), r"`scale` should be one of \[None, 'std'\], got 'max'"),
        (lambda: ViewOptions(views=["heatmap"]), rf"`views` has \['heatmap'\]; allowed: \{list(VIEWS)}"),
        (lambda: ViewOptions(embedding="umap"), rf"`embedding` should be one of \{list(EMBEDDINGS)}"),
        (lambda: ViewOptions(feature_window=0), "`feature_window` should be at least 1, got 0"),
        (lambda: ViewOptions(feature_batches=-1), "`feature_batches` should be at least 0, got -1"),
    ],
)
def test_analysis_and_view_options_name_the_option_and_what_it_allows(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_options_are_normalised_once() -> None:
    both = EngineOptions(method=["gradnap", "nap"])
    assert both.method == ("gradnap", "nap") and both.methods == ("gradnap", "nap") and both.needs_gradients
    assert EngineOptions(method="nap").methods == ("nap",) and not EngineOptions(method="nap").needs_gradients
    assert ViewOptions().views == tuple(v for v in VIEWS if v not in ("profile_clustered", "topomap"))  # opt-in
    assert ViewOptions(views=["scalars"]).views == ("scalars",)
    assert EngineOptions(objective=objectives.predicted_logprob).objective_name == "predicted_logprob"
    assert set(OBJECTIVE_NAMES) == set(objectives.OBJECTIVES)  # the names config allows are the objectives there


def _defaults(function) -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()}


#: The callback finds these from the model (default None); the engine and compute_profiles keep [B, C, T] and
#: classes on axis 1 unless told (README: "Other model layouts").
PROBED_BY_THE_CALLBACK = {"class_dim", "channels_last"}


@pytest.mark.parametrize("options", [EngineOptions, AnalysisOptions, ViewOptions])
def test_the_boundaries_flat_arguments_default_to_the_options_defaults(options) -> None:
    from lightning_gradnap import GradNAPCallback

    for boundary in (GradNAPCallback.__init__, compute_profiles):
        flat = _defaults(boundary)
        shared = [field for field in fields(options) if field.name in flat]
        assert shared or boundary is compute_profiles
        for field in shared:
            if boundary is GradNAPCallback.__init__ and field.name in PROBED_BY_THE_CALLBACK:
                assert flat[field.name] is None, field.name  # None: found by probing the model
                continue
            assert flat[field.name] == field.default, (boundary.__qualname__, field.name)


def test_the_engine_takes_its_options_as_an_object_or_as_keywords() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv1d(4, 3, 1))
    x, labels = torch.randn(2, 2, 10), torch.randint(-1, 3, (2, 10))
    by_object = ProfileEngine(["0", "1"], 3, EngineOptions(method=["gradnap", "nap"], absolute=True))
    by_keywords = ProfileEngine(["0", "1"], 3, method=["gradnap", "nap"], absolute=True)
    assert by_object.options == by_keywords.options
    for engine in (by_object, by_keywords):
        engine.run_batch(model, (x, labels))
    for key, (sums, counts) in by_object.state().items():
        assert torch.equal(sums, by_keywords.state()[key][0]) and torch.equal(counts, by_keywords.state()[key][1])
    with pytest.raises(
        TypeError, match=r"as one EngineOptions or as keywords .*, not EngineOptions and \['absolute'\]"
    ):
        ProfileEngine(["0"], 3, EngineOptions(), absolute=True)
    with pytest.raises(TypeError, match=r"as keywords \(e.g. method='nap'\), not str and \[\]"):
        ProfileEngine(["0"], 3, "nap")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'methods'"):
        ProfileEngine(["0"], 3, methods=["nap"])

"""The opt-in causal check in a Trainer run: scores in TensorBoard, the custom-scalars chart and the file;
the same drops as the pure check on the same batches; option errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from tensorboard.plugins.custom_scalar import layout_pb2

from lightning_gradnap import GradNAPCallback
from lightning_gradnap.config import FaithfulnessOptions
from lightning_gradnap.engine.faithfulness import faithfulness_ratio, layer_selections, measure_drops
from lightning_gradnap.recording.batch import ProfileBatch
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, read_events, trainer

pytestmark = [LOW_RELIABILITY]
LAYERS = ("00_net.conv1", "01_net.conv2")
DROPS = ("faithfulness_drop", "faithfulness_drop_random")  # per labelled output frame (GradNAP only here)


def fit(tmp_path, callback, **kwargs):
    torch.manual_seed(0)
    model, data = TinyFrameModel(), TinyFrameData()
    run = trainer(tmp_path, [callback], **kwargs)
    run.fit(model, data)
    return run, model, data


def test_a_fit_logs_the_scores_and_writes_them_into_the_file(tmp_path) -> None:
    callback = GradNAPCallback(
        labels="labels", method=["gradnap", "nap"], max_batches=2, views=["scalars"], faithfulness_k=2
    )
    run, model, data = fit(tmp_path, callback)
    events = read_events(run.logger.log_dir)
    for layer in LAYERS:
        for key in ("faithfulness", "faithfulness_nap"):
            values = events.Scalars(f"gradnap/{key}/{layer}")
            assert [s.step for s in values] == [0, 3, 6]  # 0: the untrained network's (NaN where its drops are 0)
            assert all(np.isfinite(s.value) for s in values[1:])
    layout = layout_pb2.Layout()
    layout.ParseFromString(events.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = {chart.title: chart for category in layout.category for chart in category.chart}
    assert list(charts["faithfulness"].multiline.tag) == ["gradnap/faithfulness/.*", "gradnap/faithfulness_nap/.*"]
    last = sorted(tmp_path.glob("**/profiles/*.npz"))[-1]
    scores = json.loads(str(np.load(last)["metadata"]))["scores"]
    logged = {
        key: events.Scalars(f"gradnap/{key}/01_net.conv2")[-1].value for key in ("faithfulness", "faithfulness_nap")
    }
    saved = {key: scores["gradnap"]["net.conv2"][key] for key in logged}
    assert saved == pytest.approx(logged, rel=1e-6)
    assert "faithfulness" not in scores["nap"]["net.conv2"]  # on the first method's scores only
    # the same as the pure check on the first 2 validation batches, from the profile in the file
    model.eval()
    engine = callback.engine
    profiles = {"gradnap": np.load(last)["profile_1"], "nap": np.load(last)["profile_3"]}
    selections = layer_selections(profiles, 2, seed=1)  # the layer's position in the checked layers
    drops = {"gradnap": 0.0, "nap": 0.0, "random": 0.0}
    for batch in data.val[:2]:
        profile_batch = ProfileBatch(batch["features"], batch["labels"], batch["feature_lengths"])
        measured = measure_drops(
            engine, model, {"net.conv2": model.net.conv2}, profile_batch, {"net.conv2": selections}
        )
        drops = {kind: drops[kind] + measured["net.conv2"][kind] for kind in drops}
    expected = faithfulness_ratio(drops["gradnap"], drops["random"])
    assert saved["faithfulness"] == pytest.approx(expected, rel=1e-5)
    frames = sum(
        int((b["labels"][:, ::2] >= 0).sum()) for b in data.val[:2]
    )  # the output frames: every 2nd input frame
    per_frame = {key: scores["gradnap"]["net.conv2"][key] for key in (*DROPS, "faithfulness_drop_nap")}
    assert per_frame == pytest.approx(
        {"faithfulness_drop": drops["gradnap"] / frames, "faithfulness_drop_random": drops["random"] / frames,
         "faithfulness_drop_nap": drops["nap"] / frames}, rel=1e-5
    )  # fmt: skip
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_off_by_default_and_one_layer_on_request(tmp_path) -> None:
    run, _, _ = fit(tmp_path / "off", GradNAPCallback(labels="labels", max_batches=2, views=["scalars"]), max_epochs=1)
    assert not [tag for tag in read_events(run.logger.log_dir).Tags()["scalars"] if "faithfulness" in tag]
    scores = json.loads(str(np.load(sorted(tmp_path.glob("off/**/profiles/*.npz"))[-1])["metadata"]))["scores"]
    assert not [key for key in scores["gradnap"]["net.conv1"] if key.startswith("faithfulness")]
    callback = GradNAPCallback(
        labels="labels", max_batches=2, views=["scalars"], faithfulness_k=1, faithfulness_layers=["net.conv2"]
    )
    with pytest.warns(UserWarning, match=r"faithfulness_nap needs the NAP profiles too: profile with method="):
        run, model, data = fit(tmp_path / "on", callback, max_epochs=1)
    tags = [tag for tag in read_events(run.logger.log_dir).Tags()["scalars"] if "faithfulness" in tag]
    assert sorted(tags) == [f"gradnap/{key}/01_net.conv2" for key in ("faithfulness", *DROPS)]
    run.validate(model, data)  # under inference mode: the check's forwards need no gradients
    repeat = sorted(tmp_path.glob("on/**/profiles/*validate-1.npz"))
    scores = json.loads(str(np.load(repeat[0])["metadata"]))["scores"]["gradnap"]
    assert np.isfinite(scores["net.conv2"]["faithfulness"]) and "faithfulness" not in scores["net.conv1"]


def test_option_errors(tmp_path) -> None:
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="`faithfulness_k` should be a positive integer"):
            GradNAPCallback(faithfulness_k=k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`faithfulness_batches` should be a positive integer, got 0"):
        GradNAPCallback(faithfulness_k=2, faithfulness_batches=0)
    with pytest.raises(ValueError, match="`faithfulness_layers` should be a list of profiled layers' names"):
        GradNAPCallback(faithfulness_k=2, faithfulness_layers="net.conv1")  # type: ignore[arg-type]
    assert FaithfulnessOptions(3, ["a"], 4) == FaithfulnessOptions(3, ("a",), 4)
    callback = GradNAPCallback(labels="labels", faithfulness_k=2, faithfulness_layers=["net.conv3"])
    with pytest.raises(ValueError, match=r"`faithfulness_layers` names 'net.conv3', which is not profiled \(did you"):
        fit(tmp_path, callback, max_epochs=1)


@pytest.mark.slow
def test_ddp_scores_equal_one_process(tmp_path) -> None:
    """2 processes (gloo) against 1 on the demo configuration: with ``faithfulness_batches`` covering the whole
    validation set in both (4 batches in one process, 2 in each of two), the drops sum over the same frames."""
    from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
    from tests.callback.test_distributed import ARGS, NUM_TRAIN, NUM_VALIDATION
    from tests.helpers.processes import run_in_own_group

    data_root = tmp_path / "corpus"
    for split, size in (("train", NUM_TRAIN), ("validation", NUM_VALIDATION), ("test", 2)):
        SyntheticSpeechCorpus(data_root, split, size, seed=0, snr_db=(20.0, 40.0), progress=False)
    check = ["--trainer.callbacks.init_args.method", "[gradnap, nap]", "--trainer.callbacks.init_args.faithfulness_k"]
    check += ["4", "--trainer.callbacks.init_args.faithfulness_batches", "4"]
    check += ["--trainer.callbacks.init_args.faithfulness_layers", "[model.conv2, model.dense]"]
    scores = {}
    for devices in (1, 2):
        out = tmp_path / f"devices{devices}"
        args = [sys.executable, "-m", "example_asr", "validate", "--config", "configs/demo.yaml", *check, *ARGS]
        args += ["--data.init_args.root", str(data_root), "--trainer.default_root_dir", str(out)]
        args += ["--trainer.logger.init_args.save_dir", str(out), "--trainer.devices", str(devices)]
        args += ["--trainer.strategy", "ddp"] if devices > 1 else []
        returncode, output = run_in_own_group(args, timeout=420)
        assert returncode == 0, output[-3000:]
        (file,) = sorted(out.glob("**/profiles/*.npz"))
        scores[devices] = json.loads(str(np.load(file)["metadata"]))["scores"]["gradnap"]
    for layer in ("model.conv2", "model.dense"):  # at initial weights (learning rate 0) the ratios may be NaN
        for key in ("faithfulness_drop", "faithfulness_drop_nap", "faithfulness_drop_random"):
            assert scores[2][layer][key] == pytest.approx(scores[1][layer][key], rel=1e-3, abs=1e-6), (layer, key)
        for key in ("faithfulness", "faithfulness_nap"):
            single, ddp = scores[1][layer][key], scores[2][layer][key]
            assert (single is None) == (ddp is None) and (single is None or ddp == pytest.approx(single, rel=1e-3))

"""Hooks, gradient modes, side effects and the errors a user can act on."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from lightning_gradnap import compute_profiles
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.recording.hooks import ActivationRecorder


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv1d(2, 4, 3, padding=1))
    model.add_module("relu1", nn.ReLU(inplace=True))
    model.add_module("conv2", nn.Conv1d(4, 3, 1))
    return model.eval()


def batch(frames: int = 8):
    return torch.randn(2, 2, frames), torch.randint(0, 3, (2, frames))


def all_hooks_removed(model: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in model.modules())


def test_hooks_removed_after_success() -> None:
    model = small_model()
    compute_profiles(model, [batch()], ["conv1", "conv2"], 3)
    assert all_hooks_removed(model)


def test_hooks_removed_after_an_exception_in_forward() -> None:
    class Exploding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 3, 1)

        def forward(self, x):
            self.conv(x)
            raise KeyboardInterrupt  # also an interrupt, not only an Exception

    model = Exploding().eval()
    with pytest.raises(KeyboardInterrupt):
        compute_profiles(model, [batch()], ["conv"], 3)
    assert all_hooks_removed(model)


def test_hooks_removed_after_an_exception_in_the_objective() -> None:
    model = small_model()
    with pytest.raises(ValueError, match="needs targets"):
        compute_profiles(model, [batch()], ["conv1"], 3, objective="ctc")
    assert all_hooks_removed(model)


def test_recorder_context_is_idempotent() -> None:
    model = small_model()
    recorder = ActivationRecorder(model, ["conv1"])
    with recorder:
        recorder.attach()
        assert len(model.conv1._forward_hooks) == 1
        model(torch.randn(1, 2, 5))
    recorder.remove()
    assert all_hooks_removed(model) and "conv1" in recorder.activations


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "enable_grad"])
def test_works_under_any_grad_mode_without_side_effects(mode: str) -> None:
    model = small_model()
    x, labels = batch()
    expected = compute_profiles(model, [(x, labels)], ["conv1", "conv2"], 3)
    context = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "enable_grad": torch.enable_grad}
    before = {name: p.clone() for name, p in model.named_parameters()}
    with context[mode]():
        if mode == "inference_mode":
            x, labels = x.clone(), labels.clone()  # inference tensors, as in trainer.validate()
        profiles = compute_profiles(model, [(x, labels)], ["conv1", "conv2"], 3)
    for name in ("conv1", "conv2"):
        assert (profiles[name].means == expected[name].means).all()
    assert all(p.grad is None for p in model.parameters()), "parameters' .grad must stay untouched"
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert not model.training


def test_frozen_model_still_gets_activation_gradients() -> None:
    model = small_model().requires_grad_(False)
    profiles = compute_profiles(model, [batch()], ["conv1"], 3)
    assert (profiles["conv1"].counts > 0).all()


def test_training_mode_is_kept_and_warned_about() -> None:
    model = small_model().train()
    with pytest.warns(UserWarning, match="training mode"):
        compute_profiles(model, [batch()], ["conv1"], 3)
    assert model.training


def test_absent_groups_stay_nan_and_are_reported() -> None:
    x, labels = batch()
    labels[labels == 1] = 2
    with pytest.warns(UserWarning, match=r"1 of 3 groups .* \['b'\]"):
        profiles = compute_profiles(small_model(), [(x, labels)], ["conv1"], 3, group_names=["a", "b", "c"])
    assert profiles.absent_groups("conv1") == ["b"]
    assert torch.isnan(torch.from_numpy(profiles["conv1"].profile[1])).all()
    assert not torch.isnan(torch.from_numpy(profiles["conv1"].profile[[0, 2]])).any()


# ----------------------------------------------------------------------------- errors
def test_unknown_layer_lists_the_closest_names() -> None:
    with pytest.raises(ValueError, match=re.escape("Unknown layer 'conv_1'. Did you mean 'conv1'")) as error:
        compute_profiles(small_model(), [batch()], ["conv_1"], 3)
    assert "conv2" in str(error.value) and "named_modules" in str(error.value)


def test_layer_errors() -> None:
    model = small_model()
    with pytest.raises(ValueError, match="more than once"):
        ActivationRecorder(model, ["conv1", "conv1"])
    with pytest.raises(ValueError, match="is empty"):
        ActivationRecorder(model, [])


def test_unused_layer_is_reported() -> None:
    model = nn.Module()
    model.net, model.unused = small_model(), nn.Conv1d(3, 3, 1)
    model.eval()
    model.forward = model.net.forward
    with pytest.raises(RuntimeError, match=r"\['unused'\] were not called"):
        compute_profiles(model, [batch()], ["net.conv1", "unused"], 3)
    assert all_hooks_removed(model)


def test_label_errors_say_what_to_change() -> None:
    model = small_model()
    x, labels = batch()
    with pytest.raises(ValueError, match=r"labels range from 0 to 2, but must lie in -1 \.\. 1 .*raise num_groups"):
        compute_profiles(model, [(x, labels)], ["conv1"], 2)
    with pytest.raises(ValueError, match=r"needs labels of shape \[B, T\], got \(2,\)"):
        compute_profiles(model, [(x, labels[:, 0])], ["conv1"], 3)
    with pytest.raises(ValueError, match="labels must be integers"):
        compute_profiles(model, [(x, labels.float())], ["conv1"], 3)
    with pytest.raises(ValueError, match="labels are for 1 examples but the batch has 2"):
        compute_profiles(model, [(x, labels[:1])], ["conv1"], 3)
    with pytest.raises(ValueError, match="every group is absent"):
        compute_profiles(model, [(x, torch.full_like(labels, -1))], ["conv1"], 3)
    with pytest.raises(ValueError, match="no batch has been profiled"):
        compute_profiles(model, [], ["conv1"], 3)


def test_layer_without_time_axis_with_frame_labels() -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    with pytest.raises(ValueError, match=r"layer '2' outputs shape \(2, 4\).*label_level='utterance'"):
        compute_profiles(model, [batch()], ["2"], 3)
    profiles = compute_profiles(model, [(batch()[0], torch.tensor([0, 2]))], ["0", "2"], 3, label_level="utterance")
    assert profiles["2"].counts.tolist() == [1, 0, 1]


def test_option_errors() -> None:
    with pytest.raises(ValueError, match=r"`method` should be one of \['gradnap', 'nap'\]"):
        ProfileEngine(["a"], 3, method="grad")
    with pytest.raises(ValueError, match="Unknown objective 'loss'"):
        ProfileEngine(["a"], 3, objective="loss")
    with pytest.raises(ValueError, match="window_center='salient' needs gradients"):
        ProfileEngine(["a"], 3, method="nap", window=3, window_center="salient")
    with pytest.raises(ValueError, match="num_groups"):
        ProfileEngine(["a"], 0)
    with pytest.raises(ValueError, match="2 group_names for num_groups=3"):
        compute_profiles(small_model(), [batch()], ["conv1"], 3, group_names=["a", "b"])
    with pytest.raises(TypeError, match="cannot read a profiling batch"):
        compute_profiles(small_model(), [torch.zeros(3)], ["conv1"], 3)


def test_nan_gradients_skip_the_batch_with_a_warning() -> None:
    model = small_model()
    x, labels = batch()
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    engine = ProfileEngine(["conv1"], 3)
    with pytest.warns(RuntimeWarning, match="skipped a batch"):
        engine.run_batch(model, (bad, labels))
    engine.run_batch(model, (x, labels))
    assert engine.skipped_batches == 1
    expected = compute_profiles(model, [(x, labels)], ["conv1"], 3)
    assert (engine.result()["conv1"].means == expected["conv1"].means).all()


def test_an_objective_detached_from_the_layers_is_an_error() -> None:
    model = small_model()
    recorder = ActivationRecorder(model, ["conv2"])
    with recorder, torch.enable_grad():
        output = model(torch.randn(1, 2, 5))
    with torch.no_grad():
        detached_view = output.movedim(1, 1)  # requires_grad, but no history: gradients would be silently zero
    with torch.enable_grad(), pytest.raises(RuntimeError, match="does not depend on any of the layers"):
        recorder.gradients(detached_view.sum())


def test_outputs_are_handed_on_without_a_copy() -> None:
    model = small_model()
    seen = {}
    model.conv2.register_forward_pre_hook(lambda module, inputs: seen.update(input=inputs[0]))
    recorder = ActivationRecorder(model, ["relu1"])
    with recorder, torch.enable_grad():
        model(torch.randn(2, 2, 5, requires_grad=True))
    assert recorder.activations["relu1"] is seen["input"]  # the network's own tensor: no extra memory
    assert recorder.changed_in_place() == [] and recorder.copied == set()


def test_an_output_changed_in_place_is_reported_then_copied() -> None:
    model = small_model()  # conv1 -> ReLU(inplace=True)
    x = torch.randn(2, 2, 5, requires_grad=True)
    with torch.no_grad():
        expected_output = model(x)
        expected_conv1 = model.conv1(x)
    recorder = ActivationRecorder(model, ["conv1", "conv2"])
    with recorder, torch.enable_grad():
        model(x)
    assert (recorder.activations["conv1"] >= 0).all()  # overwritten by the ReLU
    with pytest.raises(
        RuntimeError, match=r"outputs of layers \['conv1'\] were changed in place.*run the forward pass again"
    ):
        recorder.check_all_recorded()
    assert recorder.copied == {"conv1"}
    with recorder, torch.enable_grad():
        output = model(x)
    recorder.check_all_recorded()
    torch.testing.assert_close(recorder.activations["conv1"], expected_conv1, rtol=0, atol=0)
    torch.testing.assert_close(output, expected_output, rtol=0, atol=0)
    gradients, _ = recorder.gradients(output.sum())
    with torch.enable_grad():  # the same without in-place ops
        pre_activation = model.conv1(x)
        reference = torch.autograd.grad(model.conv2(torch.relu(pre_activation)).sum(), pre_activation)[0]
    torch.testing.assert_close(gradients["conv1"], reference, rtol=0, atol=0)


def test_one_tensor_recorded_for_two_layers_gets_two_gradients() -> None:
    model = small_model()
    model.add_module("same", nn.Identity())  # returns conv2's output tensor itself
    x, labels = batch()
    both = compute_profiles(model, [(x, labels)], ["conv2", "same"], 3)
    alone = compute_profiles(model, [(x, labels)], ["conv2"], 3)
    np.testing.assert_array_equal(both["same"].means, both["conv2"].means)
    np.testing.assert_array_equal(both["conv2"].means, alone["conv2"].means)


def test_in_inference_mode_outputs_are_copied() -> None:
    model = small_model()  # conv1 -> ReLU(inplace=True); inference tensors have no version counter
    x = torch.randn(2, 2, 5)
    recorder = ActivationRecorder(model, ["conv1"], keep_graph=False)
    with torch.inference_mode(), recorder:
        model(x)
        expected = model.conv1(x)
    recorder.check_all_recorded()
    torch.testing.assert_close(recorder.activations["conv1"], expected, rtol=0, atol=0)

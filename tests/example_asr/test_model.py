"""The reference recogniser: shapes, lengths, learning, decoding, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from example_asr.ctc_alignment import forced_character_labels
from example_asr.data import LengthBucketSampler, collate
from example_asr.features import LogMelFrontend, phoneme_frame_labels
from example_asr.model import Wav2Letter
from example_asr.module import SpeechRecognizer
from example_asr.text import CharTokenizer
from example_asr.utterance import Utterance


def tiny_model(**kwargs) -> Wav2Letter:
    torch.manual_seed(0)
    return Wav2Letter(n_features=8, num_classes=5, channels=6, num_layers=2, wide_channels=10, **kwargs)


@pytest.mark.parametrize("frames", [2, 3, 57, 100, 101])
def test_output_shape_and_lengths(frames: int) -> None:
    model = tiny_model().eval()
    logits = model(torch.randn(3, 8, frames))
    assert logits.shape == (3, 5, int(model.output_lengths(torch.tensor(frames))))
    assert model.output_lengths(torch.tensor([frames])).item() == frames // 2  # stride 2


def test_layers_have_readable_names_and_full_size_is_the_same_class() -> None:
    names = dict(tiny_model().named_children())
    assert list(names) == ["input_conv", "conv1", "conv2", "wide_conv", "dense", "output"]
    full = Wav2Letter(n_features=40, num_classes=29)
    assert full.conv7.conv.out_channels == 250 and full.dense.conv.out_channels == 2000
    assert full.wide_conv.conv.kernel_size == (32,) and full.input_conv.conv.stride == (2,)


def test_padding_does_not_change_valid_outputs() -> None:
    model = tiny_model().eval()
    x = torch.randn(1, 8, 200)
    alone = model(x)
    padded = model(torch.cat([x, torch.zeros(1, 8, 30)], dim=-1))
    # outputs far enough from the end (beyond the receptive field of the padding) agree
    torch.testing.assert_close(padded[..., :5], alone[..., :5])


def test_a_few_steps_lower_the_ctc_loss() -> None:
    torch.manual_seed(0)
    module = SpeechRecognizer(n_features=8, channels=16, num_layers=2, wide_channels=16, schedule="constant")
    tokenizer = CharTokenizer()
    items = [
        {
            "features": torch.randn(8, 60),
            "phoneme_labels": torch.full((60,), -1),
            "targets": tokenizer.encode(t),
            "transcript": t,
            "utterance_id": str(i),
        }
        for i, t in enumerate(["hello", "world wide"])
    ]
    batch = collate(items)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = module.ctc_loss(module(batch["features"]), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_greedy_decoding_merges_repeats_and_drops_blanks() -> None:
    tokenizer = CharTokenizer()
    assert tokenizer.decode(tokenizer.encode("it's a test")) == "it's a test"
    path = [0, 3, 3, 0, 3, 1, 1, 0, 4, 4]  # a a _ a " " " " b -> "aa b" (blank separates the two a's)
    path = [tokenizer.encode(c).item() if isinstance(c, str) else c for c in path]
    logits = torch.nn.functional.one_hot(torch.tensor([path]), tokenizer.num_classes).float().transpose(1, 2)
    text = tokenizer.greedy_decode(logits, torch.tensor([10]))[0]
    ids = torch.tensor(path)
    expected = "".join(tokenizer.alphabet[i - 1] for j, i in enumerate(path) if i and (j == 0 or path[j - 1] != i))
    assert text == expected
    assert tokenizer.greedy_decode(logits, torch.tensor([3]))[0] == tokenizer.decode(ids[1:2])
    with pytest.raises(ValueError, match=r"characters \['!'\]"):
        tokenizer.encode("hi!")


def test_phoneme_frame_labels_follow_the_alignment() -> None:
    utterance = Utterance(
        "u",
        np.zeros(1600, dtype=np.float32),
        "ab",
        ["AA", "B", "ZZZ"],
        np.array([160, 480, 1000]),
        np.array([480, 800, 1200]),
    )
    labels = phoneme_frame_labels(utterance, 11, 160, {"AA": 0, "B": 1})
    # frame i is centred on sample 160 i: frames 1, 2 in AA; 3, 4 in B; ZZZ is not a group
    np.testing.assert_array_equal(labels, [-1, 0, 0, 1, 1, -1, -1, -1, -1, -1, -1])


def test_frontend_frames_and_normalisation() -> None:
    frontend = LogMelFrontend(n_mels=8)
    features = frontend(torch.randn(16000))
    assert features.shape == (8, frontend.num_frames(16000)) == (8, 101)
    torch.testing.assert_close(features.mean(dim=1), torch.zeros(8), atol=1e-4, rtol=0)


def test_forced_alignment_labels_follow_a_peaky_emission() -> None:
    tokenizer = CharTokenizer()
    targets = tokenizer.encode("ab")[None]
    # output frames: blank, a, a, blank, b, blank; 12 input frames (stride 2)
    path = torch.tensor([[0, 3, 3, 0, 4, 0]])
    logits = torch.nn.functional.one_hot(path, tokenizer.num_classes).float().transpose(1, 2) * 10
    labels = forced_character_labels(logits, targets, torch.tensor([6]), torch.tensor([2]), 12)
    a, b = tokenizer.group_names.index("a"), tokenizer.group_names.index("b")
    assert labels.tolist() == [[-1, -1, a, a, a, a, -1, -1, b, b, -1, -1]]
    # too short to align: left unlabelled
    labels = forced_character_labels(logits[..., :1], targets, torch.tensor([1]), torch.tensor([2]), 2)
    assert labels.tolist() == [[-1, -1]]


def test_bucket_sampler_is_a_permutation_with_similar_neighbours() -> None:
    lengths = np.random.default_rng(0).uniform(1, 5, size=203)
    sampler = LengthBucketSampler(lengths, batch_size=8, bucket_batches=5)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(203)) and first != second
    spread = np.mean([np.ptp(lengths[first[i : i + 8]]) for i in range(0, 200, 8)])
    assert spread < 0.5 * np.mean([np.ptp(lengths[i : i + 8]) for i in range(0, 200, 8)])


DEMO = dict(channels=128, wide_channels=256, input_kernel=11, wide_kernel=7, num_layers=7)
PAPER_KERNELS = dict(channels=128, wide_channels=256, input_kernel=48, input_stride=2, wide_kernel=32)


def randomised_eval_model(config: dict) -> Wav2Letter:
    """Random batch-norm statistics and affine terms, so that unmasked padding frames are nonzero."""
    torch.manual_seed(0)
    model = Wav2Letter(n_features=40, num_classes=29, **config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.5)
    return model.eval()


@pytest.mark.parametrize("config", [DEMO, PAPER_KERNELS], ids=["demo", "kernels_48_32"])
def test_masked_outputs_do_not_depend_on_the_batch(config: dict) -> None:
    model = randomised_eval_model(config)
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([150, 233, 97, 400, 301])
    frames = 420  # every utterance has some padding
    utterances = [torch.randn(40, int(n), generator=generator) for n in lengths]
    padding = torch.randn(len(lengths), 40, frames, generator=generator) * 10
    padding[:, ::3, ::5] = float("-inf")
    padding[:, 1::7, 2::9] = float("nan")
    batch = padding.clone()
    for b, x in enumerate(utterances):
        batch[b, :, : x.shape[1]] = x

    blocks = {name: getattr(model, name) for name in model.hidden_layer_names}
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        block.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
        for name, block in blocks.items()
    ]
    try:
        with torch.no_grad():
            batched = model(batch, lengths)
    finally:
        for handle in handles:
            handle.remove()
    out_lengths = model.output_lengths(lengths)
    assert set(outputs) == set(blocks)
    for name, output in outputs.items():
        padded = torch.arange(output.shape[-1]) >= out_lengths[:, None]
        assert torch.all(output.transpose(1, 2)[padded] == 0), name  # exactly zero past the valid frames

    with torch.no_grad():
        for b, x in enumerate(utterances):
            alone = model(x[None], lengths[b : b + 1])
            assert alone.shape[-1] == out_lengths[b]
            torch.testing.assert_close(batched[b : b + 1, :, : out_lengths[b]], alone, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(model(x[None]), alone)  # no padding: lengths change nothing
        assert not torch.isfinite(model(batch)).all()  # unmasked, the padding does reach the outputs

"""The brute-force reference of the HF matrix agrees with the engine given the frame maps by hand.

This checks the references of :mod:`tests.models.test_transformers` (their centres, labels at a
label rate, valid frames) against the vectorised engine on padded batches of 4, with every layer's
``(stride, offset, length_offset)`` stated and ``channels_last`` set per group of layers, which is
what the engine needed before it found maps and layouts itself.
"""

from __future__ import annotations

import pytest
import torch

from lightning_gradnap import compute_profiles
from tests.helpers.brute_force import assert_profiles_match, brute_force_profiles
from tests.helpers.model_matrix import QUIET
from tests.models.hf_cases import CASES, GROUPS, Case, pad_batch
from tests.models.hf_warnings import quiet_hf

pytestmark = QUIET


def engine_batches(case: Case, data: list[dict[str, torch.Tensor]], batch_size: int) -> list[dict]:
    """Padded batches for ``compute_profiles``, labels at ``case.label_rate`` input steps each."""
    batches = []
    for start in range(0, len(data), batch_size):
        batch = pad_batch(data[start : start + batch_size])
        batches.append(
            {
                "inputs": tuple(batch[key] for key in case.input_keys),
                "labels": batch["frame_labels"],
                "lengths": batch["input_lengths"],
            }
        )
    return batches


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_agrees_with_the_engine_given_frame_maps(case: Case):
    module = case.module().eval()
    data = case.utterances()
    with quiet_hf():
        reference = brute_force_profiles(
            module, case.reference_utterances(data), case.layers, case.output, len(GROUPS), case.label_rate
        )
        for channels_last in (False, True):
            names = [layer.name for layer in case.layers if (layer.name in case.channels_last) == channels_last]
            if not names:
                continue
            frame_maps = {name: case.frame_maps[name] for name in [*names, "<output>"]}
            profiles = compute_profiles(
                module,
                engine_batches(case, data, batch_size=4),
                names,
                len(GROUPS),
                class_dim=2,
                channels_last=channels_last,
                label_rate=case.label_rate,
                frame_maps=frame_maps,
            )
            assert_profiles_match(profiles, {name: reference[name] for name in names})

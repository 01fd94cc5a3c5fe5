"""``.npz`` files that are not profiles, or whose parts disagree, are refused at load with a
message naming the file and the part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap import Profiles
from tests.helpers.callback import CATEGORIES, GROUPS
from tests.helpers.views import small_profiles

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_npy_file_is_refused_at_load(tmp_path) -> None:
    np.save(tmp_path / "profile.npy", np.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"profile.npy' holds a single array \(a .npy file\), not a profile file"):
        Profiles.load(tmp_path / "profile.npy")


def saved_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    profiles, _ = small_profiles(8, 4)
    with np.load(profiles.save(tmp_path / "good.npz")) as data:
        return dict(data)


def test_a_non_numeric_format_version_is_refused_at_load(tmp_path) -> None:
    np.savez(tmp_path / "bad.npz", **{**saved_arrays(tmp_path), "format_version": np.array("one")})
    with pytest.raises(
        ValueError, match="bad.npz' is not a readable profile file.*format_version should be one integer"
    ):
        Profiles.load(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"group_names": np.array(GROUPS[:3]), "group_categories": np.array(CATEGORIES[:3])},
            r"layer 'a': profile of shape \(4, 8\), expected \[3, channels\]",
        ),
        ({"counts_0": np.ones(3)}, r"layer 'a': \(3,\) counts, expected one per group \(4,\)"),
        ({"means_1": np.zeros((4, 5))}, r"layer 'b': means of shape \(4, 5\), its profile \(4, 8\)"),
        ({"group_categories": np.array(CATEGORIES[:2])}, "2 group categories for 4 group names"),
    ],
    ids=[
        "group_names_shorter_than_the_profile",
        "counts_of_the_wrong_length",
        "means_of_another_shape",
        "categories_of_the_wrong_length",
    ],
)
def test_an_inconsistent_file_is_refused_at_load(change, message, tmp_path) -> None:
    np.savez(tmp_path / "bad.npz", **{**saved_arrays(tmp_path), **change})
    with pytest.raises(ValueError, match=message):
        Profiles.load(tmp_path / "bad.npz")

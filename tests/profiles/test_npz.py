"""Normalisation options and the .npz file: layout, round trip, atomic writes, corrupt files."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gradnap import LayerProfile, Profiles
from lightning_gradnap.profiles.result import group_means, normalize_profiles

MEANS = np.array([[1.0, 10.0], [3.0, 10.0], [np.nan, np.nan], [8.0, 10.0]])
COUNTS = np.array([1.0, 1.0, 0.0, 2.0])


def test_centring_over_present_groups() -> None:
    profile = normalize_profiles(MEANS, COUNTS)
    np.testing.assert_array_equal(profile[[0, 1, 3]], [[-3.0, 0.0], [-1.0, 0.0], [4.0, 0.0]])
    assert np.isnan(profile[2]).all()


def test_weight_by_count_and_std_scale() -> None:
    weighted = normalize_profiles(MEANS, COUNTS, weight_by_count=True)  # centre (1 + 3 + 16) / 4 = 5
    np.testing.assert_array_equal(weighted[[0, 1, 3], 0], [-4.0, -2.0, 3.0])
    scaled = normalize_profiles(MEANS, COUNTS, scale="std")
    std = np.sqrt((9 + 1 + 16) / 3)
    np.testing.assert_allclose(scaled[[0, 1, 3], 0], np.array([-3.0, -1.0, 4.0]) / std)
    np.testing.assert_array_equal(scaled[[0, 1, 3], 1], [0.0, 0.0, 0.0])  # zero spread: left unscaled
    with pytest.raises(ValueError, match="scale must be one of"):
        normalize_profiles(MEANS, COUNTS, scale="minmax")


def test_group_means_nan_for_absent() -> None:
    means = group_means(np.array([[2.0], [0.0]]), np.array([4.0, 0.0]))
    assert means[0, 0] == 0.5 and np.isnan(means[1, 0])


def make_profiles() -> Profiles:
    layers = {
        "encoder.conv1": LayerProfile(normalize_profiles(MEANS, COUNTS), MEANS, COUNTS),
        "window": LayerProfile(np.arange(24.0).reshape(4, 2, 3), np.arange(24.0).reshape(4, 2, 3), COUNTS),
    }
    names, categories = ["aa", "b", "s", "m"], ["vowel", "plosive", "fricative", "nasal"]
    return Profiles(layers, names, categories, {"method": "gradnap", "scale": None})


def test_round_trip_and_plain_numpy_layout(tmp_path) -> None:
    path = make_profiles().save(tmp_path / "sub" / "p.npz")
    loaded = Profiles.load(path)
    assert loaded.layer_names == ["encoder.conv1", "window"]
    assert loaded.group_names == ["aa", "b", "s", "m"] and loaded.group_categories[0] == "vowel"
    assert loaded.metadata == {"method": "gradnap", "scale": None}
    np.testing.assert_array_equal(loaded["encoder.conv1"].means, MEANS)
    np.testing.assert_array_equal(loaded["window"].profile, np.arange(24.0).reshape(4, 2, 3))
    with np.load(path, allow_pickle=False) as raw:  # documented layout, plain numpy, no pickle
        assert list(raw["layers"]) == ["encoder.conv1", "window"]
        np.testing.assert_array_equal(raw["counts_0"], COUNTS)
        assert int(raw["format_version"]) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.npz"], "no temporary file left"


def test_failed_write_leaves_no_file(tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        make_profiles().save(tmp_path / "p.npz")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_and_truncated_files_name_the_file(tmp_path) -> None:
    path = make_profiles().save(tmp_path / "p.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.npz' is not a readable profile file"):
        Profiles.load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="garbage.npz"):
        Profiles.load(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz"):
        Profiles.load(other)
    with pytest.raises(FileNotFoundError):
        Profiles.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="end in .npz"):
        make_profiles().save(tmp_path / "p.npy")


def test_renormalized_and_absent_groups() -> None:
    profiles = make_profiles()
    assert profiles.absent_groups() == ["s"]
    scaled = profiles.renormalized(scale="std")
    assert scaled.metadata["scale"] == "std"
    np.testing.assert_allclose(scaled["encoder.conv1"].profile, normalize_profiles(MEANS, COUNTS, scale="std"))
    with pytest.raises(ValueError, match="3 group categories for 4 groups"):
        Profiles(profiles.layers, profiles.group_names, ["a", "b", "c"])
    with pytest.raises(KeyError, match="no profile for layer 'nope'"):
        profiles["nope"]

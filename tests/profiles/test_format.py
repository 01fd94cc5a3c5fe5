"""The .npz contract that profiles/npz owns: file names, array keys, methods, the header and its one version check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lightning_gradnap import LayerProfile, Profiles
from lightning_gradnap.profiles.npz import (
    FORMAT_VERSION,
    FileName,
    layer_key,
    parse_file_name,
    profile_file_name,
    read_header,
    stored_methods,
)
from lightning_gradnap.profiles.result import window_mean

COUNTS = np.array([2.0, 0.0, 1.0])


def make_profiles() -> Profiles:
    window = np.arange(18.0).reshape(3, 2, 3)
    window[1] = np.nan
    layers = {
        "conv": LayerProfile(window[:, :, 0], window[:, :, 0], COUNTS),
        "window": LayerProfile(window, window, COUNTS),
    }
    return Profiles(layers, ["a", "b", "c"], ["x", "x", "y"], {"method": "gradnap"})


def test_file_names_round_trip() -> None:
    assert profile_file_name(3, 1200) == "epoch=003-step=001200.npz"
    assert profile_file_name(3, 1200, "validate-1") == "epoch=003-step=001200-validate-1.npz"
    assert parse_file_name("logs/profiles/epoch=003-step=001200.npz") == FileName(1200, 3)
    assert parse_file_name(profile_file_name(12, 7, "validate-1")) == FileName(7, 12)
    assert parse_file_name("step=5.npz") == FileName(5, None)
    assert parse_file_name("profiles.npz") is None


def test_saved_keys_are_the_layer_keys_and_the_header_reads_them(tmp_path) -> None:
    path = make_profiles().save(tmp_path / profile_file_name(0, 10))
    assert layer_key("profile", 1) == "profile_1"
    with np.load(path, allow_pickle=False) as raw:
        assert {layer_key(base, i) for base in ("profile", "means", "counts") for i in (0, 1)} <= set(raw.files)
    header = read_header(path)
    assert header.layers == ["conv", "window"] and header.group_names == ["a", "b", "c"]
    assert header.group_categories == ["x", "x", "y"] and header.metadata == {"method": "gradnap"}
    assert header.shapes[layer_key("profile", 1)] == (3, 2, 3)
    assert stored_methods(header.metadata) == ["gradnap"]
    assert stored_methods({}) == ["gradnap"] and stored_methods({"methods": ["nap", "gradnap"]}) == ["nap", "gradnap"]


def test_one_version_check_for_the_header_and_the_whole_file(tmp_path) -> None:
    path = make_profiles().save(tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as raw:
        arrays = {key: raw[key] for key in raw.files}
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**arrays, "format_version": np.array(FORMAT_VERSION + 1)})
    message = f"newer.npz' is not a readable profile file .*format version {FORMAT_VERSION + 1}, this library reads"
    with pytest.raises(ValueError, match=message):
        read_header(newer)
    with pytest.raises(ValueError, match=message):
        Profiles.load(newer)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single.npy' holds a single array"):
        read_header(single)
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "missing.npz")
    metadata = json.loads(str(arrays["metadata"]))
    assert Profiles.load(path).metadata == metadata


def test_window_mean() -> None:
    profile = np.arange(12.0).reshape(2, 2, 3)
    np.testing.assert_array_equal(window_mean(profile), [[1.0, 4.0], [7.0, 10.0]])
    np.testing.assert_array_equal(window_mean(profile[:, :, 0]), profile[:, :, 0])

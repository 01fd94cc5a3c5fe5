"""Every view of :func:`~lightning_gradnap.summary.views.write_views` copes with one channel and
with one or two present groups (a tree and a map need two)."""

from __future__ import annotations

import warnings

import pytest
from torch.utils.tensorboard import SummaryWriter

from lightning_gradnap import analyze
from lightning_gradnap.summary.step_views import VIEWS
from lightning_gradnap.summary.views import write_views
from tests.helpers.callback import event_steps
from tests.helpers.views import small_profiles, view_warnings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("embedding", ["pca", "tsne"])
@pytest.mark.parametrize(
    "channels, present", [(1, 4), (8, 1), (8, 2)], ids=["one_channel", "one_present_group", "two_present_groups"]
)
def test_every_view_copes_with_one_channel_one_or_two_groups(channels, present, embedding, tmp_path) -> None:
    profiles, features = small_profiles(channels, present)
    writer = SummaryWriter(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_views(writer, profiles, analyze(profiles, 3), 7, 0, VIEWS, features, embedding=embedding)
    writer.close()
    assert view_warnings(caught) == []
    for layer in ("00_a", "01_b"):
        assert event_steps(str(tmp_path), "images", f"gradnap/profile/{layer}") == [7]
        assert event_steps(str(tmp_path), "images", f"gradnap/profile_clustered/{layer}") == [7]
        drawn = [7] if present >= 2 else []  # a tree and a map need two groups
        assert event_steps(str(tmp_path), "images", f"gradnap/dendrogram/{layer}") == drawn
        assert event_steps(str(tmp_path), "images", f"gradnap/groups_2d/{layer}") == drawn
    assert event_steps(str(tmp_path), "images", "gradnap/agreement/layers") == [7]
    assert event_steps(str(tmp_path), "images", "gradnap/features/input") == [7]

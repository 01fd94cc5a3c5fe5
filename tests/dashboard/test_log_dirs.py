"""Big, linked and odd log directories (issue 25, points 6 and 7): every run is found, none silently missing,
and the report says in words what it cannot do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lightning_gradnap.__main__ import main
from lightning_gradnap.dashboard.files import find_runs, has_runs
from tests.helpers.dashboard import make_run


def test_more_than_20000_folders_under_the_logdir(tmp_path: Path) -> None:
    for index in range(20_050):
        (tmp_path / "sweep" / f"trial_{index:05d}").mkdir(parents=True)
    make_run(tmp_path / "zz_last" / "version_0" / "profiles", (1,))
    assert list(find_runs(tmp_path)) == ["zz_last/version_0"]
    assert has_runs(tmp_path)


def test_runs_behind_folder_links_are_found_once(tmp_path: Path) -> None:
    make_run(tmp_path / "elsewhere" / "version_0" / "profiles", (1,))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "logs" / "linked" / "version_0" / "loop").symlink_to(tmp_path / "logs", target_is_directory=True)
    assert list(find_runs(tmp_path / "logs")) == ["linked/version_0"]


def test_report_of_a_folder_with_only_a_hidden_file(tmp_path: Path, capsys) -> None:
    make_run(tmp_path / "run" / "profiles", (1,))
    (tmp_path / "run" / "profiles" / "epoch=000-step=000001.npz").rename(tmp_path / "run" / "profiles" / ".hidden.npz")
    with pytest.raises(SystemExit, match="no .npz profile files under"):
        main(["report", str(tmp_path), "-o", str(tmp_path / "r.html"), "--no-progress"])


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_report_output_path_that_cannot_be_a_file(tmp_path: Path, where: str) -> None:
    make_run(tmp_path / "run" / "profiles", (1,))
    (tmp_path / "a_file").write_text("")
    output, message = {
        "folder": (tmp_path / "run", "is a folder: give the report's file name"),
        "under_a_file": (tmp_path / "a_file" / "r.html", "is a file, not a folder"),
    }[where]
    with pytest.raises(SystemExit, match=message):
        main(["report", str(tmp_path), "-o", str(output), "--no-progress"])


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS folder names must be UTF-8")
def test_report_of_a_run_folder_whose_name_is_not_utf8(tmp_path: Path) -> None:
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/run\xff"))
    make_run(folder / "profiles", (1,))
    for root in (tmp_path, folder):
        output = tmp_path / "report.html"
        main(["report", str(root), "-o", str(output), "--no-progress"])
        assert "run\ufffd" in output.read_text(encoding="utf-8")

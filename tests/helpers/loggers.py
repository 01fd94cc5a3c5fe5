"""Real Lightning loggers in tests: W&B offline and MLflow's file store in ``tmp_path``, read back by their own
formats and clients (no network, no processes left behind)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

WANDB_BLOCK = 32768  # a .wandb file is a LevelDB log: 32 KiB blocks of chunks, each with a 7-byte header
WANDB_HEADER = 7  # the file's own header: ":W&B", a 2-byte magic and a version byte
FULL, LAST = 1, 4  # chunk types: a whole record, the last chunk of one


def wandb_records(path: Path) -> list[Any]:
    """Every record of a ``.wandb`` run file, parsed with wandb's own protobuf ``Record`` (wandb 0.31 has no
    Python reader: its Go core writes the file)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    records, pending, position = [], b"", WANDB_HEADER
    while position + 7 <= len(data):
        if WANDB_BLOCK - position % WANDB_BLOCK < 7:  # a block's tail too short for a header is padding
            position += WANDB_BLOCK - position % WANDB_BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:
            break  # zero padding at the end
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_history(run_dir: Path) -> list[dict[str, Any]]:
    """The run's history rows (one per ``wandb.log`` call), keys as logged (an image's as ``<key>/<field>``)."""
    (path,) = run_dir.glob("*.wandb")
    rows = []
    for record in wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return rows


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """W&B in offline mode under ``tmp_path``, quiet; the run finished and wandb's service stopped afterwards."""
    wandb = pytest.importorskip("wandb")
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_DISABLE_GIT": "true",
    }.items():
        monkeypatch.setenv(name, value)
    yield wandb
    wandb.finish()
    wandb.teardown()  # stops the wandb-core process


@pytest.fixture
def mlflow_file_store(tmp_path, monkeypatch) -> str:
    """A local MLflow file store under ``tmp_path`` (MLflow 3 asks for an explicit opt-in), without telemetry."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return f"file:{tmp_path}/mlruns"

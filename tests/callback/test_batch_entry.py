"""A Lightning batch becomes a ProfileBatch once, where it enters the callback, and flows down from there."""

from __future__ import annotations

import torch

import lightning_gradnap.engine.engine as engine_module
import lightning_gradnap.recording.batch as batch_module
from lightning_gradnap import GradNAPCallback
from lightning_gradnap.recording.batch import BatchReader
from tests.helpers.callback import TinyFrameData, TinyFrameModel, trainer


def test_each_profiled_batch_is_read_once_and_the_probe_gets_that_batch(tmp_path, monkeypatch) -> None:
    reads, conversions, probed = [], [], []
    read, convert, probe = BatchReader.read, batch_module.as_profile_batch, engine_module.find_frame_maps

    def counted_read(self, batch, owner=None):
        result = read(self, batch, owner)
        reads.append(result[0])
        return result

    def counted_conversion(batch):
        conversions.append(batch)
        return convert(batch)

    def counted_probe(model, batch, *args, **kwargs):
        probed.append(batch)
        return probe(model, batch, *args, **kwargs)

    monkeypatch.setattr(BatchReader, "read", counted_read)
    monkeypatch.setattr(batch_module, "as_profile_batch", counted_conversion)
    monkeypatch.setattr(engine_module, "as_profile_batch", counted_conversion)
    monkeypatch.setattr(engine_module, "find_frame_maps", counted_probe)
    # the validation path only (the untrained network's profiling reads its batches the same way, but
    # its separate forward probes the batch moved to the model, a copy)
    callback = GradNAPCallback(labels="labels", max_batches=2, views=[], save_profiles=False, profile_init=False)
    torch.manual_seed(0)
    run = trainer(tmp_path, [callback], max_epochs=1)
    model, data = TinyFrameModel(), TinyFrameData()
    run.fit(model, data)  # the sanity check profiles nothing
    assert len(reads) == 2 and conversions == []  # one read per profiled batch, no conversion after it
    assert len(probed) == 1 and probed[0] is reads[0]  # the probe gets the batch as read, at the first batch
    run.validate(model, data)  # inference mode: a separate forward, from the batch as read
    assert len(reads) == 4 and conversions == []
    assert len(probed) == 2  # validate()'s setup makes an engine of its own, which probes at its first batch
    assert callback.history["steps"] == [3]  # the repeat at step 3 has a file of its own, not a history entry

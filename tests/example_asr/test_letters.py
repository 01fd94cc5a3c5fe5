"""The letters that may spell each phoneme, as ``group_classes`` for the demo's character model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from example_asr.phonetics.arpabet import ARPABET_INVENTORY
from example_asr.phonetics.letters import PHONEME_LETTERS, phoneme_group_classes
from example_asr.text import CharTokenizer

CONFIG = Path(__file__).parents[2] / "configs" / "demo_errors.yaml"


def test_every_phoneme_has_letters_and_no_class_is_the_blank() -> None:
    names = list(ARPABET_INVENTORY.names)
    classes = phoneme_group_classes(names)
    assert len(classes) == len(names) == 39
    tokenizer = CharTokenizer()
    for name, ids in zip(names, classes, strict=True):
        assert ids and tokenizer.blank not in ids
        assert tokenizer.decode(ids) == PHONEME_LETTERS[name]
    assert phoneme_group_classes(["K"]) == [tokenizer.encode("ckqx").tolist()]
    with pytest.raises(KeyError, match="no letters known for"):
        phoneme_group_classes(["XX"])


def test_the_demo_config_lists_the_same_classes() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (callback,) = config["trainer"]["callbacks"]
    arguments = callback["init_args"]
    assert arguments["split_by_correctness"] is True
    assert arguments["group_classes"] == phoneme_group_classes(list(ARPABET_INVENTORY.names))

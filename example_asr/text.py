"""Characters <-> CTC token ids, and greedy CTC decoding."""

from __future__ import annotations

import torch

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Lower-case letters, apostrophe and space; id 0 is the CTC blank.

    Example::

        tokenizer = CharTokenizer()
        ids = tokenizer.encode("hello world")
        tokenizer.decode(ids) == "hello world"
    """

    blank = 0
    alphabet = " 'abcdefghijklmnopqrstuvwxyz"

    def __init__(self) -> None:
        self._ids = {char: i + 1 for i, char in enumerate(self.alphabet)}

    @property
    def num_classes(self) -> int:
        """Characters plus the blank."""
        return len(self.alphabet) + 1

    @property
    def group_names(self) -> list[str]:
        """One name per character, in id order without the blank (space shown as ``"␣"``)."""
        return ["␣" if char == " " else char for char in self.alphabet]

    @property
    def group_categories(self) -> list[str]:
        """Category of each character group: ``"vowel letter"``, ``"consonant letter"`` or ``"separator"``."""
        return [
            "separator" if char in " '" else "vowel letter" if char in "aeiou" else "consonant letter"
            for char in self.alphabet
        ]

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted({char for char in text if char not in self._ids})
        if unknown:
            raise ValueError(f"characters {unknown} in {text!r} are not in the alphabet {self.alphabet!r}")
        return torch.tensor([self._ids[char] for char in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.alphabet[i - 1] for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids) if i > 0)

    def greedy_decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """Best path: arg-max per frame, merge repeats, drop blanks.

        Args:
            log_probs: ``[B, K, T]`` scores.
            lengths: ``[B]`` valid frames.
        """
        best = log_probs.argmax(dim=1)  # [B, T]
        keep = torch.ones_like(best, dtype=torch.bool)
        keep[:, 1:] = best[:, 1:] != best[:, :-1]
        keep &= best != self.blank
        keep &= torch.arange(best.shape[1], device=best.device)[None, :] < lengths[:, None].to(best.device)
        return [self.decode(row[mask]) for row, mask in zip(best.cpu(), keep.cpu(), strict=True)]

"""Phoneme inventories (ARPAbet, eSpeak's) and articulatory features."""

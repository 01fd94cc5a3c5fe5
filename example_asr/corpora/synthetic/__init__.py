"""Speech synthesised offline with eSpeak NG, with true phoneme alignments."""

"""The corpora example_asr trains on: LibriSpeech from a folder, and the offline synthetic corpus."""

#!/usr/bin/env bash
# The main job: synthesise the offline speech corpus (once), train the demo Wav2Letter for its
# 10 epochs with GradNAP profiling on, then print the final validation CER and point at TensorBoard.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
.venv/bin/python -m example_asr fit --config configs/demo.yaml "$@"
log_dir=$(ls -d runs/demo/tensorboard/version_* | sort -V | tail -n 1)
echo
.venv/bin/python -m example_asr.summary "$log_dir"
echo "Profiles of every validation epoch: $log_dir/profiles/"
echo "Watch them evolve:  .venv/bin/tensorboard --logdir runs/demo/tensorboard   (then open http://localhost:6006/#gradnap, or #images)"
echo "The same page as one HTML file:  .venv/bin/python -m lightning_gradnap report runs/demo/tensorboard -o report.html"

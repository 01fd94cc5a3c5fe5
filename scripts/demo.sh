#!/usr/bin/env bash
# The main job: synthesise the offline speech corpus (once), train the demo Wav2Letter on 2 CPU
# cores for up to 10 minutes with GradNAP profiling on, then point at TensorBoard.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
.venv/bin/python -m example_asr fit --config configs/demo.yaml "$@"
log_dir=$(ls -d runs/demo/tensorboard/version_* | sort -V | tail -n 1)
echo
echo "Profiles of every validation epoch: $log_dir/profiles/"
echo "Watch them evolve:  .venv/bin/tensorboard --logdir runs/demo/tensorboard   (then open http://localhost:6006/#images)"

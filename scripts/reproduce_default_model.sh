#!/usr/bin/env bash
# Train the default model from nothing but the sim: scripted demonstrations recorded to
# rosbag2 (from the home pose; from random arm poses, so that the policy learns to recover
# from where it drifts to; from missed grasps, so that it learns to grasp again), labeled by
# the offline pipeline (one folder per task), and the small preset (a per-view UNet at
# 32 x 32 px) trained on the CPU.
#
#   scripts/bootstrap.sh -- scripts/reproduce_default_model.sh [WORK_DIR]
#
# WORK_DIR (default: outputs/default_model) gets demos/, episodes/ and run/ (checkpoints,
# loss.png); the trained model goes to run/model. About 20 minutes of recording and labeling
# and 90 minutes of training on a 2-core CPU. Training seeds 100.., 2000.. and 3000..,
# evaluation seeds 1000.. (see `action-images evaluate`), so they never overlap.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="${1:-outputs/default_model}"
cameras=(--camera front=/front/image_raw --camera left=/left/image_raw --camera right=/right/image_raw)

action-images record-demos --tasks reach --seeds 300 --first-seed 100 --size 64 \
    --out "$work/demos/home_reach"
action-images record-demos --tasks pick --seeds 200 --first-seed 100 --size 64 \
    --out "$work/demos/home_pick"
action-images record-demos --tasks reach pick --seeds 300 --first-seed 2000 --size 64 \
    --random-start --out "$work/demos/random"
action-images record-demos --tasks pick --seeds 200 --first-seed 3000 --size 64 \
    --miss-first-grasp --out "$work/demos/missed_grasp"
for task in reach pick; do
  action-images label-bag "$work"/demos/home_$task/*/ --out "$work/episodes/home_$task" \
      --task $task --fps 10 "${cameras[@]}"
  action-images label-bag "$work"/demos/random/${task}_*/ --out "$work/episodes/random_$task" \
      --task $task --fps 10 "${cameras[@]}"
done
action-images label-bag "$work"/demos/missed_grasp/pick_*/ --out "$work/episodes/missed_grasp_pick" \
    --task pick --fps 10 "${cameras[@]}"
python -m action_images_ros.model.train --config small --views 3 --episodes "$work/episodes" \
    --out "$work/run" --steps 10500 --batch-size 8 --lr 6e-4 --warmup 200 --balance-tasks \
    --action-weight 3 --mode-mix policy=0.7 action_labeling=0.15 action_conditioned_video=0.1 \
    video=0.05 --checkpoint-every 500
echo "trained model: $work/run/model; evaluate it with action-images evaluate; copy it to"
echo "action_images_ros/checkpoints/sim_panda_small to make it the demo's default"

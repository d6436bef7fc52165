#!/usr/bin/env bash
# Train the multi-view model (the `multiview` preset: a UNet per view whose coarse levels
# attend across all views, 64 x 64 px, 12 frames 0.2 s apart = a 2.2 s chunk) from the sim:
# scripted reach, pick and place demonstrations recorded to rosbag2 (from the home pose; from
# random arm poses, to learn to recover from drift; from missed grasps, to grasp again),
# labeled by the offline pipeline (a folder per task and variant), trained on the CPU.
#
#   scripts/bootstrap.sh -- scripts/reproduce_multiview_model.sh [WORK_DIR]
#
# WORK_DIR (default: outputs/multiview_model) gets demos/, episodes/ and run/ (checkpoints,
# loss.png); the model goes to run/model. A stage whose output is complete is skipped (one
# cut short is redone) and training continues from its newest checkpoint (every 250 steps)
# exactly as if it had not stopped, so the same command resumes a run, e.g. at low priority:
#
#   nohup nice -n 19 scripts/bootstrap.sh -- scripts/reproduce_multiview_model.sh \
#       /work/train/multiview >> /work/train/multiview/log.txt 2>&1 &
#
# DATA_ONLY=1 stops after labeling. Idle 2-core CPU: ~45 min to record and label 1,250
# episodes, ~1.5 h to train (4,500 steps of batch 8, ~1.1 s each; docs/model.md).
# Train seeds 100.., 2000.., 3000..; evaluation seeds 1000.. (`action-images evaluate`).
# Edit this file only while no run of it is under way: bash reads a running script as it
# goes; shifted lines break it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="${1:-outputs/multiview_model}"
cameras=(--camera front=/front/image_raw --camera left=/left/image_raw --camera right=/right/image_raw)

record() {  # record NAME ARGS...: skipped when NAME's summary.json (written last) exists
  local out="$work/demos/$1"
  shift
  if [[ -f "$out/summary.json" ]]; then return; fi
  rm -rf "$out"
  action-images record-demos --size 64 --out "$out" "$@"
}

label() {  # label NAME TASK BAGS...: skipped when NAME was labeled completely before
  local out="$work/episodes/$1" task="$2"
  shift 2
  if [[ -f "$out.done" ]]; then return; fi
  rm -rf "$out"
  action-images label-bag "$@" --out "$out" --task "$task" --fps 10 "${cameras[@]}"
  touch "$out.done"
}

record home_reach --tasks reach --seeds 200 --first-seed 100
record home_pick --tasks pick --seeds 200 --first-seed 100
record home_place --tasks place --seeds 200 --first-seed 100
record random --tasks reach pick place --seeds 150 --first-seed 2000 --random-start
record missed_grasp --tasks pick place --seeds 100 --first-seed 3000 --miss-first-grasp
for task in reach pick place; do
  label home_$task $task "$work"/demos/home_$task/*/
  label random_$task $task "$work"/demos/random/${task}_*/
done
for task in pick place; do
  label missed_grasp_$task $task "$work"/demos/missed_grasp/${task}_*/
done
if [[ "${DATA_ONLY:-0}" == 1 ]]; then exit 0; fi

python -m action_images_ros.model.train --config multiview --views 3 --episodes "$work/episodes" \
    --out "$work/run" --steps 4500 --batch-size 8 --lr 6e-4 --warmup 200 --balance-tasks \
    --hold-last-frame --action-weight 3 --mode-mix policy=0.5 policy_given_prefix=0.2 \
    action_labeling=0.15 action_conditioned_video=0.1 video=0.05 --checkpoint-every 250 --resume
echo "trained model: $work/run/model; evaluate it with action-images evaluate"

"""The four modes of one model, as masks of which frames are given clean.

A clip holds, per view, F RGB frames and F action-image frames. Frame 0 is "now". A mode says,
for each (segment kind, frame), whether it is given (clean, timestep 0) or generated. Beyond
the published masks, the current action image (frame 0) is given in the policy mode: the
robot's state is known, so the model need not guess where the arm is now.

Real-time chunking (inpainting): in the policy mode the first few future action frames may be
given too (`given_action_frames`): the steps the robot executes while the chunk is computed, so
the model generates a continuation of them (RTC, arXiv 2506.07339) instead of a chunk that must
be blended into the running plan afterwards. Training draws that case as its own entry of the
mode mix (`POLICY_GIVEN_PREFIX`: the policy mode with 1..F-2 future action frames given).
"""

from __future__ import annotations

from enum import Enum

import torch


class Mode(str, Enum):
    POLICY = "policy"  # now: RGB + action -> future RGB and action images
    ACTION_CONDITIONED_VIDEO = "action_conditioned_video"  # now RGB + all actions -> future RGB
    ACTION_LABELING = "action_labeling"  # all RGB -> all action images
    VIDEO = "video"  # now RGB -> future RGB (action images neither given nor learned)


# The training-mix name of the policy mode with a given prefix of future action frames.
POLICY_GIVEN_PREFIX = "policy_given_prefix"


def given_mask(mode: Mode | str, frames: int, given_action_frames: int = 0) -> torch.Tensor:
    """(2, F) bool: [RGB frames, action frames], True where the frame is given clean.

    `given_action_frames` (policy mode only): future action frames 1..n are given as well; at
    least one future action frame stays generated.
    """
    mode = Mode(mode)
    if given_action_frames and mode is not Mode.POLICY:
        raise ValueError(f"given action frames are a policy-mode option, not {mode.value}")
    if not 0 <= given_action_frames <= frames - 2:
        raise ValueError(
            f"given_action_frames must be in [0, {frames - 2}] for {frames} frames, "
            f"got {given_action_frames}"
        )
    given = torch.zeros(2, frames, dtype=torch.bool)
    given[0, 0] = True
    if mode is Mode.POLICY:
        given[1, : 1 + given_action_frames] = True
    elif mode is Mode.ACTION_CONDITIONED_VIDEO:
        given[1] = True
    elif mode is Mode.ACTION_LABELING:
        given[0] = True
    return given


def supervised_mask(mode: Mode | str, frames: int, given_action_frames: int = 0) -> torch.Tensor:
    """(2, F) bool: frames whose prediction is trained (the generated ones that matter)."""
    mode = Mode(mode)
    supervised = ~given_mask(mode, frames, given_action_frames)
    if mode is Mode.VIDEO:
        supervised[1] = False
    return supervised


def frame_mask(mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """A (2, F) or (B, 2, F) frame mask, broadcastable over clips (B, V, 2, F, H, W, C)."""
    if mask.ndim == 2:
        mask = mask[None]
    return mask[:, None, :, :, None, None, None].to(clips.device)

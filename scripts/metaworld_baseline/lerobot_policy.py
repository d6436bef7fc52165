"""A trained LeRobot Diffusion Policy behind the project's Policy interface (-> ActionChunk).

The policy sees what it was trained on (train_dp.py's export): one RGB image per camera
(float in [0, 1], channels first) and `observation.state` = the commanded end-effector position,
its quaternion (x y z w) and the gripper openness, for the current frame and the
`n_obs_steps - 1` frames before it (one frame interval apart; the rollout hands those over
through `observe`, the first chunk of an episode repeats the current frame as LeRobot does).
It predicts `n_action_steps` poses from the current frame on; the first is the current pose (a
frame's action is the pose commanded at that frame), so the chunk is the rest, due one frame
interval apart from the observation on, as the project's own policy's chunks are.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import torch
from lerobot.policies import make_pre_post_processors
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.policy import Observation

IMAGE_PREFIX = "observation.images."


class LeRobotPolicyError(ValueError):
    """A LeRobot policy that cannot serve the scene as asked (names what differs)."""


class DiffusionPolicyAdapter:
    """LeRobot's DiffusionPolicy loaded from a `pretrained_model` directory."""

    def __init__(
        self, model_dir: Path, frame_interval: float, num_inference_steps: int | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "model.safetensors").is_file():
            raise LeRobotPolicyError(
                f"{self.model_dir} holds no model.safetensors (give a checkpoint's "
                "pretrained_model directory, or train_dp.py's --out)"
            )
        self.policy = DiffusionPolicy.from_pretrained(str(self.model_dir))
        config = self.policy.config
        if num_inference_steps is not None:
            config.num_inference_steps = num_inference_steps
            self.policy.diffusion.num_inference_steps = num_inference_steps
        self.policy.eval()
        self.preprocess, self.postprocess = make_pre_post_processors(
            config,
            pretrained_path=str(self.model_dir),
            preprocessor_overrides={"device_processor": {"device": "cpu"}},
        )
        self.image_keys = list(config.image_features)
        self.cameras = [key.removeprefix(IMAGE_PREFIX) for key in self.image_keys]
        channels, self.height, self.width = config.image_features[self.image_keys[0]].shape
        self.frame_interval = float(frame_interval)
        self.history_frames = config.n_obs_steps - 1
        self.num_inference_steps = self.policy.diffusion.num_inference_steps
        self._frames: deque[dict[str, torch.Tensor]] = deque(maxlen=config.n_obs_steps)

    def check_scene(self, cameras: list[str], width: int, height: int) -> None:
        """Refuse a scene whose cameras or image size differ from the training data's."""
        if list(cameras) != self.cameras or (width, height) != (self.width, self.height):
            raise LeRobotPolicyError(
                f"the policy at {self.model_dir} was trained on {self.width}x{self.height} images "
                f"of cameras {self.cameras}, the scene renders {width}x{height} of {list(cameras)}"
            )

    def reset(self, seed: int | None = None) -> None:
        """Forget the frames of the previous episode (and seed the diffusion noise)."""
        self._frames.clear()
        self.policy.reset()
        if seed is not None:
            torch.manual_seed(seed)

    def _frame(self, observation: Observation) -> dict[str, torch.Tensor]:
        images = np.asarray(observation.images)
        if images.shape[0] != len(self.cameras) or images.shape[1:3] != (self.height, self.width):
            raise LeRobotPolicyError(
                f"an observation of {images.shape[0]} images of {images.shape[1:3]} pixels, the "
                f"policy takes {len(self.cameras)} of {(self.height, self.width)}"
            )
        state = np.concatenate(
            [observation.ee_position, observation.ee_quaternion, [observation.gripper_openness]]
        )
        frame = {"observation.state": torch.from_numpy(state.astype(np.float32))}
        for key, image in zip(self.image_keys, images, strict=True):
            frame[key] = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
        return self.preprocess(frame)

    def observe(self, observation: Observation) -> None:
        """Keep a past frame (one frame interval before a coming chunk request)."""
        self._frames.append(self._frame(observation))

    def predict(self, observation: Observation) -> ActionChunk:
        self._frames.append(self._frame(observation))
        while len(self._frames) < self._frames.maxlen:
            self._frames.appendleft(self._frames[0])
        keys = ["observation.state", *self.image_keys]
        batch = {key: torch.stack([f[key] for f in self._frames], dim=1) for key in keys}
        with torch.inference_mode():
            actions = self.policy.predict_action_chunk(batch)
        poses = self.postprocess(actions)[0].double().numpy()[1:]  # [0]: the current pose
        quaternions = poses[:, 3:7] / np.linalg.norm(poses[:, 3:7], axis=1, keepdims=True)
        steps = len(poses)
        return ActionChunk(
            positions=poses[:, :3],
            quaternions=quaternions,
            gripper_openness=np.clip(poses[:, 7], 0.0, 1.0),
            times=self.frame_interval * np.arange(1, steps + 1),
            confidence=np.ones(steps),
            valid=np.ones(steps, bool),
        )

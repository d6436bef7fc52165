"""The video-action model as a Policy: observation in, decoded 7-DoF action chunk out.

The current frames of every view are resized to the model's size (the intrinsics with them),
the current action image is drawn from the robot's end-effector pose, the model generates the
future RGB and action frames (policy mode), and the codec decodes the action frames into
actions with a confidence per step.

A model directory (see `loading`) carries the pipeline and the policy config: the views, the
frame interval, the action-image drawing the model was trained with (used to draw the current
action and to decode the generated ones), the default denoising steps and guidance, and the
task names; with a text encoder the task is an instruction for it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from action_images_ros.core.action_chunk import ActionChunk
from action_images_ros.core.action_decoding import decode
from action_images_ros.core.action_images import encode
from action_images_ros.core.policy import Observation
from action_images_ros.core.rotations import matrix_to_quat, quat_to_matrix
from action_images_ros.model.denoisers import ModelShapeError
from action_images_ros.model.loading import ModelBundle, load_model_directory
from action_images_ros.model.modes import Mode
from action_images_ros.model.views import resize_views


class VideoActionPolicy:
    """Runs a model directory's pipeline in policy mode (see the module docstring)."""

    def __init__(
        self,
        model: ModelBundle,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        task: str = "",
        seed: int = 0,
    ) -> None:
        """Steps and guidance default to the model's (its policy config)."""
        self.bundle, self.pipeline, self.model = model, model.pipeline, model.denoiser.eval()
        self.policy_config = config = model.config
        self.steps = num_inference_steps or config.num_inference_steps
        self.guidance = config.guidance_scale if guidance_scale is None else guidance_scale
        self.action_image_config = config.action_images
        self.tasks = list(config.tasks)
        self.reset(seed)
        self.set_task(task)

    def reset(self, seed: int = 0) -> None:
        """Restart the noise sequence from `seed`: the chunks that follow are reproducible.

        Each chunk draws fresh noise from one generator. Re-seeding for every chunk would give
        the same noise every time, and with it the same error: in closed loop the arm then
        settles where that error holds it (reach 60 % over seeds 1000-1009 on the sim, 95 % over
        1000-1019 with fresh noise per chunk, same model).
        """
        self.generator = torch.Generator().manual_seed(seed)

    def set_task(self, task: str) -> None:
        """Condition on `task` ("" = none): a task name of the model, or an instruction."""
        self.text, self.negative_text, self.task_id = None, None, 0
        if self.pipeline.text is not None:  # encoded once: the instruction does not change
            self.text, self.negative_text = self.pipeline.encode_prompt([task])
        elif task not in self.tasks:
            known = ", ".join(repr(t) for t in self.tasks[1:]) or "none"
            raise ValueError(f"the model knows no task {task!r} (its tasks: {known})")
        else:  # the last id of that name: a model trained without task names has ["", ""]
            self.task_id = len(self.tasks) - 1 - self.tasks[::-1].index(task)

    @property
    def knows_tasks(self) -> bool:
        """Whether the model was trained with task names (or takes instructions)."""
        return self.pipeline.text is not None or any(self.tasks)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str = "cpu", **options: object
    ) -> VideoActionPolicy:
        """The policy of the model directory at `path` (`loading.load_model_directory`)."""
        return cls(load_model_directory(path, device), **options)

    accepts_given_actions = True

    @property
    def frame_interval(self) -> float:
        """Seconds between the model's frames: the times of its chunk steps."""
        return float(self.policy_config.frame_interval)

    def predict(self, observation: Observation) -> ActionChunk:
        c = self.model.config
        views = observation.images.shape[0]
        if views != c.views:
            names = ", ".join(self.policy_config.views)
            raise ModelShapeError(f"the model was built for {c.views} views ({names}), got {views}")
        frames, rig = resize_views(
            observation.images,
            observation.intrinsics,
            observation.extrinsics,
            c.width,
            c.height,
            self.policy_config.center_crop,
        )
        given = self._given_steps(observation)
        positions = np.vstack([observation.ee_position[None], given.positions])
        rotations = quat_to_matrix(np.vstack([observation.ee_quaternion[None], given.quaternions]))
        gripper = np.concatenate([[observation.gripper_openness], given.gripper_openness])
        drawn = encode(
            torch.tensor(positions),
            torch.tensor(rotations),
            torch.tensor(gripper),
            rig,
            self.action_image_config,
        ).images
        clips = torch.zeros(1, views, 2, c.frames, c.height, c.width, 3)
        clips[0, :, 0, 0] = torch.from_numpy(frames).float() / 255
        clips[0, :, 1, : len(drawn)] = drawn.transpose(0, 1).float()
        out = self.pipeline(
            clips=clips,
            rays=self.bundle.pipeline.camera_rays(rig),
            mode=Mode.POLICY,
            task_ids=torch.tensor([self.task_id]),
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            generator=self.generator,
            prompt_embeds=self.text,
            negative_prompt_embeds=self.negative_text,
            given_action_frames=len(given),
        ).clips
        future = out[0, :, 1, 1:].permute(1, 0, 2, 3, 4)  # (F-1, V, H, W, 3)
        decoded = decode((future * 255).round().to(torch.uint8), rig, self.action_image_config)
        steps = c.frames - 1
        valid = decoded.valid.numpy()
        positions = np.where(
            valid[:, None], decoded.positions.double().numpy(), observation.ee_position
        )
        quaternions = np.where(
            valid[:, None],
            matrix_to_quat(decoded.rotations.double().numpy()),
            observation.ee_quaternion,
        )
        gripper = decoded.gripper.double().numpy().clip(0, 1)
        confidence = decoded.confidence.double().numpy().clip(0, 1)
        # The given steps come back exactly as given (not as decoded from their drawing).
        n = len(given)
        positions[:n], quaternions[:n] = given.positions, given.quaternions
        gripper[:n], confidence[:n], valid[:n] = given.gripper_openness, 1.0, True
        return ActionChunk(
            positions=positions,
            quaternions=quaternions,
            gripper_openness=gripper,
            times=self.frame_interval * np.arange(1, steps + 1),
            confidence=confidence,
            valid=valid,
        )

    def _given_steps(self, observation: Observation) -> GivenSteps:
        """The observation's given actions that fit in the model's frames (at least one future
        frame stays generated), checked to fall on the model's frame times."""
        given = observation.given_actions
        steps = 0 if given is None else min(len(given), self.model.config.frames - 2)
        if steps <= 0:
            return GivenSteps(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros(0))
        expected = self.frame_interval * np.arange(1, steps + 1)
        if not np.allclose(given.times[:steps], expected, atol=1e-6):
            raise ValueError(
                f"given actions must be due at the model's frame times {np.round(expected, 3)} "
                f"s after the observation, got {np.round(given.times[:steps], 3)}"
            )
        if not given.valid[:steps].all():
            raise ValueError("given actions must all be valid steps")
        return GivenSteps(
            given.positions[:steps], given.quaternions[:steps], given.gripper_openness[:steps]
        )


@dataclass(frozen=True)
class GivenSteps:
    """The given future steps a chunk continues from: (n, 3), (n, 4) and (n,) arrays."""

    positions: np.ndarray
    quaternions: np.ndarray
    gripper_openness: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)

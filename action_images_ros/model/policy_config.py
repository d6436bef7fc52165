"""What a model directory says besides its weights: `policy_config.json`.

The policy needs to know which cameras the model's views are and in which order, how many
frames a clip holds and how far apart they are, the image size, how actions were drawn into
the action images (sigma, offset, gripper encoding: the training episodes' drawing, not an
assumed one), the default denoising steps and guidance, the frames the poses are expressed in
(robot base, tool), and the task names (task id i = tasks[i]; id 0 = no task).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from action_images_ros.core.action_images import ActionImageConfig

POLICY_CONFIG = "policy_config.json"
FORMAT_VERSION = 1


class ModelDirectoryError(ValueError):
    """A model directory that is incomplete or inconsistent; the message names the file."""


@dataclass(frozen=True)
class PolicyConfig:
    """See the module docstring; `views` are camera names in the model's view order."""

    views: tuple[str, ...]
    frames: int
    frame_interval: float
    height: int
    width: int
    action_images: ActionImageConfig = field(default_factory=ActionImageConfig.paper)
    num_inference_steps: int = 5
    guidance_scale: float = 1.0
    base_frame: str = "panda_link0"
    tool_frame: str = "tcp"
    tasks: tuple[str, ...] = ("",)
    center_crop: bool = False  # crop camera images to the model's aspect ratio before resizing

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", tuple(self.views))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        problems = []
        if not self.views or not all(isinstance(v, str) and v for v in self.views):
            problems.append(f"views must be camera names, got {list(self.views)}")
        if len(set(self.views)) != len(self.views):
            problems.append(f"views must be distinct, got {list(self.views)}")
        for name in ("frames", "height", "width", "num_inference_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.frames, int) and self.frames < 2:
            problems.append(
                f"frames must be at least 2 (now and a future frame), got {self.frames}"
            )
        if not isinstance(self.frame_interval, int | float) or self.frame_interval <= 0:
            problems.append(f"frame_interval must be positive seconds, got {self.frame_interval!r}")
        if not isinstance(self.guidance_scale, int | float):
            problems.append(f"guidance_scale must be a number, got {self.guidance_scale!r}")
        for name in ("base_frame", "tool_frame"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} must be a frame name, got {getattr(self, name)!r}")
        if not isinstance(self.center_crop, bool):
            problems.append(f"center_crop must be true or false, got {self.center_crop!r}")
        problems += task_problems(self.tasks)
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(views=list(self.views), tasks=list(self.tasks))
        return {"format_version": FORMAT_VERSION, **document}

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / POLICY_CONFIG
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, document: object, source: str = POLICY_CONFIG) -> PolicyConfig:
        """A config from its JSON document; ModelDirectoryError naming `source` when it is not
        one (not an object, unknown or missing keys, bad values)."""
        if not isinstance(document, dict):
            raise ModelDirectoryError(
                f"{source}: expected a JSON object, got {type(document).__name__}"
            )
        document = dict(document)
        version = document.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ModelDirectoryError(
                f"{source}: format_version {version!r}, this package reads {FORMAT_VERSION}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        required = {"views", "frames", "frame_interval", "height", "width"}
        missing = sorted(required - set(document))
        if unknown or missing:
            raise ModelDirectoryError(
                f"{source}: "
                + "; ".join(
                    ([f"unknown keys {unknown}"] if unknown else [])
                    + ([f"missing keys {missing}"] if missing else [])
                )
            )
        drawing = document.get("action_images", {})
        try:
            if not isinstance(drawing, dict):
                raise TypeError(f"action_images must be an object, got {drawing!r}")
            document["action_images"] = ActionImageConfig(**drawing)
            if not isinstance(document.get("views"), list):
                raise TypeError(f"views must be a list, got {document.get('views')!r}")
            if not isinstance(document.get("tasks", []), list):
                raise TypeError(f"tasks must be a list, got {document.get('tasks')!r}")
            return cls(**document)
        except (TypeError, ValueError) as error:
            raise ModelDirectoryError(f"{source}: {error}") from error

    @classmethod
    def load(cls, directory: str | Path) -> PolicyConfig:
        path = Path(directory) / POLICY_CONFIG
        return cls.from_dict(read_json(path), str(path))


def task_problems(tasks: object) -> list[str]:
    """What is wrong with a task list (task id i = tasks[i], id 0 = no task: "")."""
    if not isinstance(tasks, list | tuple):
        return [f"tasks must be a list of names, got {type(tasks).__name__}"]
    if not tasks or tasks[0] != "":
        return [f"tasks must start with '' (task id 0 = no task), got {list(tasks)[:3]}"]
    if not all(isinstance(t, str) for t in tasks):
        return [f"tasks must be strings, got {list(tasks)}"]
    return []


def read_json(path: Path) -> object:
    """A JSON file's document; ModelDirectoryError naming the file when it is missing or
    not JSON."""
    if not path.is_file():
        raise ModelDirectoryError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelDirectoryError(f"{path} is not valid JSON: {error}") from error

"""The LeRobot tier reuses the unit tests' episode builder (test/unit/test_lerobot_format.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

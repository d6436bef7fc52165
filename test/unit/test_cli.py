from __future__ import annotations

import pytest

from action_images_ros.cli import COMMANDS, main


def test_unknown_commands_print_the_usage(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train-everything"])
    assert exit_info.value.code == 2
    usage = capsys.readouterr().err
    assert all(command in usage for command in COMMANDS)


def test_commands_forward_their_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["label-bag", "--help"])
    assert exit_info.value.code == 0
    assert "--camera NAME=TOPIC" in capsys.readouterr().out


def test_label_bag_help_shows_the_defaults_and_loads_no_heavy_module() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from action_images_ros.cli import main\n"
        "try:\n"
        "    main(['label-bag', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'mujoco', 'av') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip().endswith("[]"), result.stdout[-300:]
    assert "(default: panda_hand_tcp)" in result.stdout
    assert "--keep-going" in result.stdout and "--jobs" in result.stdout

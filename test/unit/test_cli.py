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

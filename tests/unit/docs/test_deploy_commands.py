"""Every `recsys` command in docs/deploy.md is one the CLI accepts: each command of its shell
blocks parses with the real parser (`recsys.cli.build_parser`), `recsys compile` commands pass
compile's own checks too, and each `recsys ... --flag` quoted in the prose names a real flag."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from recsys import cli
from recsys.cli import deploy

DOC = Path(__file__).resolve().parents[3] / "docs" / "deploy.md"
# The values the document exports (section 0, and the versions of section 7), for commands
# that use them.
ENVIRONMENT = {
    "PROJECT": "my-project", "REGION": "us-central1", "BUCKET": "my-project-recsys",
    "IMAGE": "us-central1-docker.pkg.dev/my-project/recsys/pipeline:abc1234",
    "PIPELINES_SA": "recsys-pipelines@my-project.iam.gserviceaccount.com",
    "TENSORBOARD": "projects/my-project/locations/us-central1/tensorboards/42",
    "STABLE": "1796063863", "CANARY": "1796150263",
}


def _shell_commands() -> list[str]:
    """The `recsys` commands of the document's bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("recsys "):
                commands.append(line)
    return commands


def _prose_commands() -> list[str]:
    """`recsys ...` quoted inline in the text."""
    text = re.sub(r"```.*?```", "", DOC.read_text(), flags=re.S)
    return re.findall(r"`(recsys [^`]+)`", text)


def _argv(command: str) -> list[str]:
    expanded = re.sub(r"\$(\w+)", lambda m: ENVIRONMENT[m.group(1)], command)
    return shlex.split(expanded)[1:]


SHELL_COMMANDS = _shell_commands()


def test_the_document_shows_the_commands_it_walks_through():
    shown = {command.split()[1] for command in SHELL_COMMANDS}
    assert {"compile", "submit", "serving-config", "query"} <= shown
    flags = " ".join(SHELL_COMMANDS)
    for flag in ("--model-registry", "--tensorboard", "--param", "--hparam", "--label",
                 "--no-cache", "--experiment", "--trainer-workers", "--beam-runner"):
        assert flag in flags, flag


@pytest.mark.parametrize("command", SHELL_COMMANDS)
def test_each_command_parses(command):
    args = cli.build_parser().parse_args(_argv(command))  # SystemExit on a bad flag
    if args.handler is deploy._compile:
        deploy._compile_settings(args)  # CliError on a combination compile refuses


@pytest.mark.parametrize("command", _prose_commands())
def test_each_flag_quoted_in_the_text_exists(command):
    words = command.split()
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    assert words[1] in commands, command
    options = commands[words[1]]._option_string_actions
    for word in words[2:]:
        if word.startswith("--"):
            assert word.split("=")[0] in options, (command, word)

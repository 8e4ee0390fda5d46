"""The README's cron and systemd examples are the files in deploy/, and the commands they
run parse (the options exist)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parent.parent


def deploy_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Deploy")
    return readme[start : readme.index("\n## ", start)]


def test_the_readme_quotes_the_deploy_files() -> None:
    blocks = re.findall(r"```\n(.*?)```", deploy_section(), flags=re.S)
    assert len(blocks) == 2
    cron = (ROOT / "deploy" / "crontab").read_text(encoding="utf-8").splitlines()
    systemd = [
        line
        for name in ("trialsite-sync.service", "trialsite-sync.timer")
        for line in (ROOT / "deploy" / name).read_text(encoding="utf-8").splitlines()
    ]
    for line in blocks[0].splitlines():
        assert line in cron, line
    for line in blocks[1].splitlines():
        assert line in systemd, line


def test_the_deployed_command_lines_parse() -> None:
    cron_line = next(
        line for line in (ROOT / "deploy" / "crontab").read_text().splitlines() if "trialsite sync" in line
    )
    service = (ROOT / "deploy" / "trialsite-sync.service").read_text()
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    for command in (cron_line.split(" >>")[0].split(" ", 5)[5], exec_start.removeprefix("ExecStart=")):
        words = shlex.split(command)
        assert words[0].endswith("/trialsite") and words[1] == "sync"
        known = CliRunner().invoke(app, ["sync", "--help"]).stdout
        for option in (w for w in words[2:] if w.startswith("--")):
            assert option in known, option


def test_the_readme_seed_scenario_is_what_the_commands_print(tmp_path: Path) -> None:
    """The README's first console block, run on an empty store, prints what the README shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n(\$ trialsite ingest page .*?)```", readme, flags=re.S)
    assert block is not None
    url = f"sqlite:///{tmp_path}/seed.db"
    shown: list[str] = []
    for chunk in re.split(r"^\$ ", block.group(1), flags=re.M)[1:]:
        command, _, expected = chunk.partition("\n")
        args = shlex.split(command)[1:]
        result = CliRunner().invoke(app, ["--db", url, *args], catch_exceptions=False, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        shown.append(command)
        assert result.stdout.rstrip("\n").splitlines() == expected.rstrip("\n").splitlines(), command
    assert len(shown) == 2

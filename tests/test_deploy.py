"""The README's cron, systemd and nginx examples are the files in deploy/, the commands they
run parse (the options exist), and the nginx example, run, fronts a running trialsite."""

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
    assert len(blocks) == 2  # the nginx example is quoted in a block of its own (```nginx)
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


def test_the_served_command_line_parses() -> None:
    service = (ROOT / "deploy" / "trialsite-serve.service").read_text()
    words = shlex.split(next(line for line in service.splitlines() if line.startswith("ExecStart=")))
    assert words[0].endswith("/trialsite") and words[1] == "serve"
    known = CliRunner().invoke(app, ["serve", "--help"]).stdout
    assert "--allowed-hosts" in words
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


NGINX_SITE = ROOT / "deploy" / "nginx-trialsite.conf"


def test_the_readme_quotes_the_reverse_proxy_example() -> None:
    blocks = re.findall(r"```(?:nginx)?\n(.*?)```", deploy_section(), flags=re.S)
    site = NGINX_SITE.read_text(encoding="utf-8").splitlines()
    quoted = [b for b in blocks if "proxy_pass" in b]
    assert len(quoted) == 1
    for line in quoted[0].splitlines():
        assert line in site, line


def _nginx_for_test(folder: Path, upstream_port: int) -> tuple[Path, int, int, Path]:
    """The example site, its certificate, logs and ports moved into ``folder``, under a
    minimal nginx.conf: (nginx.conf, https port, http port, certificate)."""
    import os
    import subprocess

    from tests.live_server import free_port

    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=trials.example.org", "-addext", "subjectAltName=DNS:trials.example.org",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    https, http = free_port(), free_port()
    site = (
        NGINX_SITE.read_text(encoding="utf-8")
        .replace("/etc/letsencrypt/live/trials.example.org/", f"{folder}/")
        .replace("/var/log/nginx/", f"{folder}/")
        .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
        .replace("listen 443", f"listen 127.0.0.1:{https}")
        .replace("listen 80", f"listen 127.0.0.1:{http}")
    )
    (folder / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\ndaemon off;\nworker_processes 1;\n"
        + f"events {{}}\nhttp {{\n    access_log off;\n{temp}\n    include {folder}/site.conf;\n}}\n"
    )
    return conf, https, http, certificate


def test_the_reverse_proxy_example_serves_trialsite(tmp_path: Path) -> None:
    """deploy/nginx-trialsite.conf, run: TLS for the site's name, HSTS beside trialsite's
    own headers, a redirect from http, no answer for another name (SNI or Host), 429 past
    the matching rate, and no query string in its log."""
    import shutil
    import socket
    import subprocess
    import time

    import pytest
    import urllib3

    from db.engine import open_store
    from tests.live_server import live_server

    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl not installed (apt-get install nginx-light openssl)")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).dispose()
    hosts = "trials.example.org,127.0.0.1,localhost"
    with live_server(url, tmp_path, extra_args=["--allowed-hosts", hosts]) as service:
        conf, https, http, certificate = _nginx_for_test(tmp_path, int(service.base_url.rsplit(":", 1)[1]))
        checked = subprocess.run(
            ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", https)) == 0:
                        break
                time.sleep(0.05)
            site = urllib3.HTTPSConnectionPool(
                "127.0.0.1", https, server_hostname="trials.example.org", assert_hostname="trials.example.org",
                ca_certs=str(certificate), retries=False,
            )  # fmt: skip
            health = site.request("GET", "/healthz", headers={"Host": "trials.example.org"})
            assert health.status == 200 and "max-age" in health.headers["strict-transport-security"]
            assert "default-src 'self'" in health.headers["content-security-policy"]
            site.request(
                "GET", "/api/v1/search?condition=kawasaki+quux", headers={"Host": "trials.example.org"}
            )
            headers = {"Host": "trials.example.org", "Content-Type": "application/json"}
            statuses = [
                site.request("POST", "/api/v1/match", body=b'{"age": 40}', headers=headers).status
                for _ in range(20)
            ]
            assert 429 in statuses and set(statuses) <= {200, 429}
            with pytest.raises(urllib3.exceptions.ProtocolError):  # 444: closed without an answer
                site.request("GET", "/healthz", headers={"Host": "evil.example"})
            other = urllib3.HTTPSConnectionPool("127.0.0.1", https, server_hostname="evil.example",
                                                cert_reqs="CERT_NONE", retries=False)  # fmt: skip
            with pytest.raises(urllib3.exceptions.SSLError):  # no certificate for any other name
                other.request("GET", "/healthz")
            plain = urllib3.HTTPConnectionPool("127.0.0.1", http, retries=False)
            moved = plain.request("GET", "/match", headers={"Host": "trials.example.org"}, redirect=False)
            assert moved.status == 301 and moved.headers["location"] == "https://trials.example.org/match"
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
    logged = (tmp_path / "trialsite.access.log").read_text()
    assert '"GET /api/v1/search" 200' in logged and "kawasaki" not in logged

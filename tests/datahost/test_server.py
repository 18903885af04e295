"""Running an instance: stop and start again on the same port, recovery after a crash, and an
instance run by an unprivileged account."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from datahost_server.storage import host_label
from pilot_movers_testkit.grid import free_port

from pilot_movers.https_datahost.client import DataHostClient
from tests.datahost.conftest import start_datahost, wsgi_daemon_pids
from tests.helpers import write_file


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_restart_on_the_same_port_recovers_what_a_crash_left(credentials, tmp_path):
    server = start_datahost(credentials, "lifecycle")
    try:
        server.add_user("pilot", dns=[credentials.user.dn])  # type: ignore[union-attr]
        write_file(tmp_path / "kept.bin", 100_000, seed=91)
        with DataHostClient(server.address, ca_dir=str(credentials.cert_dir), cert=str(credentials.user_proxy)) as c:
            c.put(tmp_path / "kept.bin")
        user_dir = next(p.parent for p in server.files_on_disk() if p.name == "kept.bin")
        www = pwd.getpwnam("www-data")
        # What a daemon killed mid-transfer leaves: a temporary file and a pull marked running.
        orphan = user_dir / f".upload-{_dead_pid()}@{host_label()}-orphaned1234.part"
        orphan.write_bytes(b"half")
        os.chown(orphan, www.pw_uid, www.pw_gid)
        script = (
            "import socket; from django.contrib.auth.models import User; "
            "from datahost_server.models import Transfer; "
            "Transfer.objects.create(user=User.objects.get(username='pilot'), kind='pull', name='p.dat', "
            f"url='http://example.org/p.dat', state='running', worker=socket.gethostname() + ':{_dead_pid()}')"
        )
        subprocess.run(
            [sys.executable, "-m", "datahost_server", "manage", "--dir", str(server.root), "--", "shell", "-c", script],
            check=True,
            capture_output=True,
        )
        daemons = wsgi_daemon_pids(server)
        server.stop()
        assert not _listening(server.port)
        assert not [pid for pid in daemons if Path(f"/proc/{pid}").exists()]
        server.start()  # same port, straight away
        with DataHostClient(server.address, ca_dir=str(credentials.cert_dir), cert=str(credentials.user_proxy)) as c:
            assert [f.name for f in c.ls()] == ["kept.bin"]
            pull = next(h for h in c.history() if h.kind == "pull")
        assert pull.state == "failed" and "interrupted" in (pull.error or "")
        assert not orphan.exists()
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def test_an_unprivileged_account_runs_an_instance(credentials, tmp_path):
    root = Path("/tmp") / f"pilot-movers-datahost-nobody-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    grid_copy = root / "grid"
    shutil.copytree(credentials.root / "ca", grid_copy / "ca")
    shutil.copytree(credentials.root / "host", grid_copy / "host")
    nobody = pwd.getpwnam("nobody")
    for path in [root, *root.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    port = free_port()
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", f"HOME={root}"]
    command = [sys.executable, "-m", "datahost_server"]
    try:
        subprocess.run(
            [
                *as_nobody,
                *command,
                "serve",
                "--dir",
                str(root / "instance"),
                "--port",
                str(port),
                "--ca-dir",
                str(grid_copy / "ca" / "certificates"),
                "--host-cert",
                str(grid_copy / "host" / "hostcert.pem"),
                "--host-key",
                str(grid_copy / "host" / "hostkey.pem"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in (root / "instance").rglob("*")}
        assert owners == {"nobody"}
        with DataHostClient(f"localhost:{port}", ca_dir=str(credentials.cert_dir)) as anonymous:
            answer = anonymous.session.get(anonymous.base_url + "/datahost/login/", verify=str(credentials.cert_dir))
        assert answer.status_code == 200 and "csrftoken" in answer.json()
    finally:
        subprocess.run([*as_nobody, *command, "stop", "--dir", str(root / "instance")], check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    assert not _listening(port)

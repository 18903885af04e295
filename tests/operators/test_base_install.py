"""A base install (issue 24): ``pip install pilot-movers`` without extras, in a fresh venv. What
cannot be imported there is reported as such, in one sentence naming what to install, by every
command a newcomer reaches for; nothing dies with a traceback. The testkit's Globus emulator
command, installed without its requirements, says the same way what it lacks."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.operators.distributions import Built, make_base_venv

#: What the transports and the MyProxy logon import; none is in a base install.
OPTIONAL_MODULES = ("requests", "XRootD", "globus_sdk", "myproxy", "OpenSSL", "gfal2", "flask", "werkzeug")


@pytest.fixture(scope="module")
def base(distributions: dict[str, Built], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's bin: the pilot's wheel with its base requirements, the testkit's with none."""
    venv = tmp_path_factory.mktemp("base") / "venv"
    bin_dir = make_base_venv(venv, distributions["pilot-movers"].wheel, distributions["pilot-movers-testkit"].wheel)
    for module in OPTIONAL_MODULES:  # the premise: a base install, whatever this machine has
        found = run(bin_dir, "python", "-c", f"import importlib.util as u; print(u.find_spec({module!r}) is None)")
        assert found.stdout.strip() == "True", f"{module} is importable in the base venv"
    return bin_dir


def run(bin_dir: Path, program: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``program`` of the venv, in an environment that leaks nothing of this one's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    for name in ("X509_USER_PROXY", "X509_CERT_DIR", "MYPROXY_PASSPHRASE"):
        env.pop(name, None)
    return subprocess.run(
        [str(bin_dir / program), *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr


def mover_extras(wheel: Path) -> dict[str, str]:
    """Each mover of the pilot's wheel and the extra its entry point names ('' for none)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(name).decode())
    extras = {}
    for mover, target in parser["pilot_movers.movers"].items():
        extras[mover] = target.partition("[")[2].rstrip("] ")
    return extras


def test_movers_says_which_movers_a_base_install_cannot_import_and_what_to_install(
    base: Path, distributions: dict[str, Built]
):
    extras = mover_extras(distributions["pilot-movers"].wheel)
    done = run(base, "pilot-movers", "movers", "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done)
    listed = {m["name"]: m for m in json.loads(done.stdout)}
    assert set(listed) == set(extras)
    for name, extra in extras.items():
        mover = listed[name]
        if not extra:  # needs nothing beyond the base install
            assert mover["usable"], mover
        elif name == "gridftp":  # gfal2's binding comes from the operating system, not pip
            assert not mover["usable"] and "python3-gfal2" in mover["problem"], mover
        else:
            assert not mover["usable"], mover
            assert f"pip install 'pilot-movers[{extra}]'" in mover["problem"], mover
    text = run(base, "pilot-movers", "movers")
    no_traceback(text)
    assert [line.split()[0] for line in text.stdout.splitlines() if "NOT USABLE" in line] == sorted(
        name for name, extra in extras.items() if extra
    )


#: Queue configs whose jobs need what a base install lacks: a mover's library, the MyProxy client.
DATAHOST_QUEUE = "[queue]\ncopytool = datahost\n"
MYPROXY_QUEUE = "[queue]\ncopytool = local\nse = file://{dir}/\n[myproxy]\nserver = localhost\nusername = someone\n"


def doctor(base: Path, tmp_path: Path, queue: str) -> list[dict[str, Any]]:
    """``doctor --json``'s findings for a job of ``queue`` (exit 1: a problem, and no traceback)."""
    config = tmp_path / "queue.ini"
    config.write_text(queue.format(dir=tmp_path))
    done = run(
        base, "pilot-movers", "doctor", "--json", "--queue-config", str(config), "--workdir", str(tmp_path / "w")
    )
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)["findings"]
    return findings


def run_job(base: Path, tmp_path: Path, queue: str, job_params: str) -> subprocess.CompletedProcess[str]:
    """``pilot-movers run`` of a job of ``queue`` in ``tmp_path/job``, its payload ``true``."""
    config = tmp_path / "queue.ini"
    config.write_text(queue.format(dir=tmp_path))
    workdir = str(tmp_path / "job")
    done = run(
        base,
        "pilot-movers",
        "run",
        "--queue-config",
        str(config),
        "--workdir",
        workdir,
        "--job-params",
        job_params,
        "--",
        "true",
    )
    no_traceback(done)
    return done


def test_doctor_reports_a_mover_the_base_install_lacks_as_a_problem_with_the_install_as_fix(base: Path, tmp_path: Path):
    findings = doctor(base, tmp_path, DATAHOST_QUEUE)
    problems = [f for f in findings if f["status"] == "problem"]
    assert len(problems) == 1, problems  # one fault, said once
    (missing,) = problems
    assert "pip install 'pilot-movers[https]'" in missing["message"], missing
    assert missing["fix"].startswith("install"), missing  # the queue config is not what is wrong
    assert not [f for f in findings if "datahost" in f["check"] and f["status"] == "ok"], findings


def test_doctor_reports_the_myproxy_logon_a_base_install_cannot_make(base: Path, tmp_path: Path):
    """The MyProxy client is looked for first: without it no passphrase, CA dir or server helps."""
    findings = doctor(base, tmp_path, MYPROXY_QUEUE)
    (logon,) = [f for f in findings if f["check"].startswith("MyProxy logon")]
    assert logon["status"] == "problem", logon
    assert "pip install 'pilot-movers[myproxy]'" in logon["message"], logon
    assert logon["fix"].startswith("install"), logon
    assert [f["check"] for f in findings if "pilot-movers[myproxy]" in f["message"]] == [logon["check"]]


def test_run_of_a_job_whose_mover_the_base_install_lacks_fails_in_one_sentence(base: Path, tmp_path: Path):
    done = run_job(base, tmp_path, DATAHOST_QUEUE, "dir-in=datahost://datahost.example.org/data/ files-in=a.root")
    assert done.returncode == 2, done.stderr  # bad usage or queue config: nothing was made
    (said,) = done.stderr.strip().splitlines()
    assert said.startswith("pilot-movers: MISSINGINSTALLATION") and "pip install 'pilot-movers[https]'" in said, said
    assert not (tmp_path / "job").exists()


def test_run_of_a_job_with_a_myproxy_logon_fails_naming_the_extra(base: Path, tmp_path: Path):
    (tmp_path / "a.dat").write_text("a")
    done = run_job(base, tmp_path, MYPROXY_QUEUE, "dir-in=/ files-in=a.dat")
    assert done.returncode == 1, done.stderr  # failed; a retry will not help
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("pilot-movers: job failed")]
    assert "MISSINGINSTALLATION" in said and "pip install 'pilot-movers[myproxy]'" in said, done.stderr


def test_datahost_commands_without_the_https_extra_say_what_to_install(base: Path, tmp_path: Path):
    certificate = tmp_path / "usercert.pem"
    certificate.write_text("not read before the client is imported\n")
    for command in (
        ["datahost", "--address", "localhost:1", "--user", "u", "--cert", str(certificate), "ssl-get", "a.root"],
        ["datahost-ssl-get", "localhost:1", "u", str(certificate), str(certificate), "a.root"],
    ):
        done = run(base, *command, cwd=tmp_path)
        no_traceback(done)
        assert done.returncode == 2, done.stderr
        (said,) = done.stderr.strip().splitlines()
        assert said.startswith(f"{command[0]}: ") and "pip install 'pilot-movers[https]'" in said, said
    assert not (tmp_path / "a.root").exists()


def test_the_globus_emulator_without_its_requirements_says_what_to_install(base: Path, tmp_path: Path):
    """The testkit installed with --no-deps: serving needs flask, which one sentence names; the
    commands that do not need it still work."""
    done = run(base, "pilot-movers-globus-emulator", "--port", "0")
    no_traceback(done)
    assert done.returncode != 0
    (said,) = done.stderr.strip().splitlines()
    assert said.startswith("pilot-movers-globus-emulator: ") and "pip install 'flask" in said, said
    usage = run(base, "pilot-movers-globus-emulator", "--help")
    assert usage.returncode == 0 and "--port" in usage.stdout, usage.stderr
    launcher = run(base, "pilot-movers-globus-emulator", "install-gcp", str(tmp_path / "bin"))
    no_traceback(launcher)
    assert launcher.returncode == 0 and (tmp_path / "bin" / "globusconnectpersonal").exists(), launcher.stderr

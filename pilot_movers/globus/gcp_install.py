"""Where the ``globusconnectpersonal`` program comes from: a path on the node (queue config
``gcp_path``), or a tarball from a URL or a file (``gcp_tarball``) unpacked once into a cache
dir shared by the jobs of the node, or the PATH.

Unpacking is done under a lock into a fresh directory that is renamed into place only when
complete, so concurrent jobs never see half a tree; members that would land outside it, links
that point outside it and device files are refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from pilot_movers.errors import MoverUnavailable, WorkerEndpointFailed
from pilot_movers.globus.options import GlobusOptions

PROGRAM = "globusconnectpersonal"
_LAUNCHERS = (PROGRAM, "globusconnect")  # 2.x tarballs ship the second name
_DOWNLOAD_TIMEOUT = 120.0


def gcp_program(options: GlobusOptions) -> str:
    """The program to run; MoverUnavailable (a site configuration problem) when there is none."""
    if options.gcp_tarball:
        return str(unpacked(options.gcp_tarball, cache_dir(options)))
    if options.gcp_path:
        path = Path(options.gcp_path).expanduser()
        if path.is_dir():
            path = path / PROGRAM
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MoverUnavailable(f"[globus] gcp_path {options.gcp_path} is not an executable globusconnectpersonal")
        return str(path)
    found = shutil.which(PROGRAM)
    if found is None:
        raise MoverUnavailable(
            "Globus Connect Personal (globusconnectpersonal) is not on this node's PATH: install it, or set "
            "[globus] gcp_path, or gcp_tarball to a GCP tarball (e.g. https://downloads.globus.org/"
            "globus-connect-personal/linux/stable/globusconnectpersonal-latest.tgz)"
        )
    return found


def gcp_program_as_is(options: GlobusOptions) -> str:
    """What ``gcp_program`` would run, said without fetching or unpacking anything (``doctor``
    makes nothing): a tarball not unpacked yet is named, with where the first job unpacks it."""
    if not options.gcp_tarball:
        return gcp_program(options)
    cache = cache_dir(options)
    target = cache / hashlib.sha256(options.gcp_tarball.encode()).hexdigest()[:16]
    launcher = find_launcher(target) if (target / ".complete").exists() else None
    if launcher is not None:
        return str(launcher)
    source = options.gcp_tarball
    local = source[len("file://") :] if source.startswith("file://") else None if "://" in source else source
    if local is not None and not os.path.isfile(local):
        raise MoverUnavailable(f"[globus] gcp_tarball {source} does not exist")
    return f"{source}, not unpacked here yet: the first Globus job unpacks it into {cache}"


def cache_dir(options: GlobusOptions) -> Path:
    if options.gcp_cache_dir:
        return Path(options.gcp_cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pilot-movers" / "gcp"


def unpacked(source: str, cache: Path) -> Path:
    """The launcher inside ``source`` (URL or path), unpacked into ``cache`` on first use."""
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    target = cache / key
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _unpack(source, cache, target)
    launcher = find_launcher(target)
    if launcher is None:
        raise MoverUnavailable(f"the GCP tarball {source} holds no {PROGRAM} program")
    return launcher


def find_launcher(tree: Path) -> Optional[Path]:
    """The shallowest executable ``globusconnectpersonal`` (or 2.x ``globusconnect``) in ``tree``."""
    found = [p for p in tree.rglob("*") if p.name in _LAUNCHERS and p.is_file() and os.access(p, os.X_OK)]
    found.sort(key=lambda p: (len(p.relative_to(tree).parts), _LAUNCHERS.index(p.name)))
    return found[0] if found else None


def _unpack(source: str, cache: Path, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=cache))
    try:
        archive = work / "gcp.tgz"
        _fetch(source, archive)
        tree = work / "tree"
        tree.mkdir()
        try:
            with tarfile.open(archive) as tar:
                _extract(tar, tree)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise MoverUnavailable(f"the GCP tarball {source} cannot be unpacked: {exc}") from None
        (tree / ".complete").write_text(source + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tree, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch(source: str, archive: Path) -> None:
    if "://" not in source:
        try:
            shutil.copyfile(Path(source).expanduser(), archive)
        except OSError as exc:
            raise MoverUnavailable(f"cannot read the GCP tarball {source}: {exc.strerror}") from None
        return
    try:
        with urllib.request.urlopen(source, timeout=_DOWNLOAD_TIMEOUT) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        raise WorkerEndpointFailed(f"cannot download the GCP tarball {source}: {exc}") from None


def _extract(tar: tarfile.TarFile, tree: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # Python 3.9.17+, 3.11.4+: the standard library's checks
        tar.extractall(tree, filter="data")
        return
    root = os.path.realpath(tree)  # pragma: no cover - older Pythons
    for member in tar.getmembers():  # pragma: no cover
        destination = os.path.realpath(os.path.join(root, member.name))
        if not destination.startswith(root + os.sep) or member.isdev():
            raise tarfile.TarError(f"refusing member {member.name!r}")
        if member.issym() or member.islnk():
            link = os.path.realpath(os.path.join(os.path.dirname(destination), member.linkname))
            if not link.startswith(root + os.sep):
                raise tarfile.TarError(f"refusing link {member.name!r} -> {member.linkname!r}")
    tar.extractall(tree)  # pragma: no cover

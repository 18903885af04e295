"""Storage operations on Globus locations (``ENDPOINT:/path``) through the Transfer API: stat by
listing the parent directory (one listing per directory for many files), rename, and remove by a
delete task. The API computes no checksum on request: the service verifies every transfer itself
(``verify_checksum``, ``external_checksum``), so ``checksum`` says it cannot.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional, Sequence

import globus_sdk

from pilot_movers.checksums import Checksum
from pilot_movers.engine.contract import FileStat
from pilot_movers.errors import ChecksumUnavailable, DestinationExists, MoverError, Scope, TransferFailed
from pilot_movers.globus.endpoints import Endpoint
from pilot_movers.globus.errors import from_fatal
from pilot_movers.globus.service import GlobusService
from pilot_movers.values import Location

log = logging.getLogger(__name__)
_FILTER_UNSAFE = (",", "/", ":")


class GlobusNamespace:
    """``resolve`` turns a location's endpoint name into the endpoint (once per job)."""

    def __init__(
        self,
        service: GlobusService,
        resolve: Callable[[str], Endpoint],
        *,
        poll_interval: float,
        operation_timeout: float,
        label: str = "pilot-movers",
    ) -> None:
        self.service = service
        self.resolve = resolve
        self.poll_interval = poll_interval
        self.operation_timeout = operation_timeout
        self.label = label

    # -- stat --------------------------------------------------------------------------------

    def stat(self, location: Location) -> Optional[FileStat]:
        return self.stat_many([location])[0]

    def stat_many(self, locations: Sequence[Location]) -> list[Optional[FileStat]]:
        """One listing per (endpoint, directory), filtered to the names asked for."""
        directories: dict[tuple[str, str], list[int]] = {}
        for index, location in enumerate(locations):
            directories.setdefault((location.netloc, location.parent.path), []).append(index)
        found: list[Optional[FileStat]] = [None] * len(locations)
        for (name, directory), indexes in directories.items():
            listing = self._list(self.resolve(name), directory, {locations[i].name for i in indexes})
            for i in indexes:
                found[i] = listing.get(locations[i].name)
        return found

    def _list(self, endpoint: Endpoint, directory: str, names: set[str]) -> dict[str, FileStat]:
        query: dict[str, Any] = {"path": directory}
        if not any(mark in n for n in names for mark in _FILTER_UNSAFE):
            query["filter"] = "name:" + ",".join(sorted(names))
        try:
            listing = self.service.client.operation_ls(endpoint.id, **query)
        except globus_sdk.TransferAPIError as exc:
            if exc.http_status == 404 and str(exc.code).startswith("ClientError.NotFound"):
                return {}  # the directory itself is not there
            raise self.service.translate(exc, f"listing {endpoint}:{directory}", Scope.DESTINATION) from None
        except globus_sdk.GlobusError as exc:
            raise self.service.translate(exc, f"listing {endpoint}:{directory}") from None
        return {
            entry["name"]: FileStat(int(entry.get("size") or 0), entry.get("type") == "dir")
            for entry in listing
            if entry.get("name") in names
        }

    def list_dir(self, location: Location) -> dict[str, FileStat]:
        endpoint = self.resolve(location.netloc)
        try:
            listing = self.service.client.operation_ls(endpoint.id, path=location.path)
        except globus_sdk.GlobusError as exc:
            raise self.service.translate(exc, f"listing {endpoint}:{location.path}", Scope.SOURCE) from None
        return {
            entry["name"]: FileStat(int(entry.get("size") or 0), entry.get("type") == "dir")
            for entry in sorted(listing, key=lambda entry: str(entry["name"]))
        }

    # -- checksum, rename, remove ------------------------------------------------------------

    def checksum(self, location: Location, algorithm: str) -> Checksum:
        raise ChecksumUnavailable(
            f"the Globus Transfer API computes no {algorithm} of {location.url} on request "
            "(the service verifies each transfer itself)",
            endpoint=location.netloc,
        )

    def rename(self, source: Location, target: Location, *, overwrite: bool) -> None:
        """``operation_rename``; with ``overwrite``, a target in the way is removed first (the
        service's rename does not replace: the engine looks before it asks for this)."""
        endpoint = self.resolve(source.netloc)
        what = f"renaming {source.url} to {target.name}"
        try:
            self.service.client.operation_rename(endpoint.id, source.path, target.path)
            return
        except globus_sdk.TransferAPIError as exc:
            exists = str(exc.code).endswith(".Exists")
            if exists and not overwrite:  # the service's rename never replaces: no-clobber in one step
                raise DestinationExists(f"{target.url} already exists", endpoint=target.netloc) from None
            if not exists:
                raise self.service.translate(exc, what, Scope.DESTINATION) from None
        except globus_sdk.GlobusError as exc:
            raise self.service.translate(exc, what) from None
        self.remove(target)
        self.service.call(
            what, lambda tc: tc.operation_rename(endpoint.id, source.path, target.path), scope=Scope.DESTINATION
        )

    def remove(self, location: Location) -> None:
        """A delete task for one file, waited for; a missing file is not an error (and costs no
        task: a failed attempt's temporary file is often not there at all)."""
        try:
            if self.stat(location) is None:
                return
        except MoverError as exc:  # the delete task will say what is wrong, if anything
            log.debug("Globus: cannot look at %s before removing it: %s", location.url, exc.message)
        endpoint = self.resolve(location.netloc)
        data = globus_sdk.DeleteData(endpoint=endpoint.id, label=self.label, ignore_missing=True)
        data.add_item(location.path)
        task_id = self.service.call(f"removing {location.url}", lambda tc: tc.submit_delete(data))["task_id"]
        self.service.task_started(task_id)
        try:
            task = self._wait(task_id, f"removing {location.url}")
        finally:
            self.service.task_ended(task_id)
        if task["status"] != "SUCCEEDED":
            error = from_fatal(task.get("fatal_error"))
            raise error.replace(message=f"removing {location.url}: {error.message}", scope=Scope.DESTINATION)
        log.debug("Globus: removed %s (task %s)", location.url, task_id)

    def _wait(self, task_id: str, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.operation_timeout
        while True:
            task = self.service.call(what, lambda tc: tc.get_task(task_id)).data
            if task["status"] in ("SUCCEEDED", "FAILED"):
                return dict(task)
            if time.monotonic() >= deadline:
                self.service.call(f"cancelling task {task_id}", lambda tc: tc.cancel_task(task_id))
                raise TransferFailed(
                    f"{what}: delete task {task_id} did not end within {self.operation_timeout:g} s",
                    transient=True,
                    scope=Scope.DESTINATION,
                )
            time.sleep(min(self.poll_interval, max(0.05, deadline - time.monotonic())))

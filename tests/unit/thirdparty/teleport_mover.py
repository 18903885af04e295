"""A third-party mover, as someone outside pilot-movers would write it from the docs: tele://HOST/PATH
URLs are files under the directory given by the ``root`` option. It imports only the package
face, and says a missing source the way the docs ask (``SourceNotFound``: NOSUCHFILE for PanDA)."""

import os
import shutil
from dataclasses import dataclass

from pilot_movers import Copied, LocalNamespace, Location, Mover, SourceNotFound


@dataclass(frozen=True)
class TeleportOptions:
    root: str


class TeleportMover(Mover):
    name = "teleport"
    schemes = ("tele",)
    Options = TeleportOptions

    #: What every instance did, in order (the tests read it: opened once per job?).
    events = []

    def open(self):
        TeleportMover.events.append(("open", id(self)))

    def close(self):
        TeleportMover.events.append(("close", id(self)))

    def _local(self, location):
        if location.is_local:
            return location
        return Location.local(os.path.join(self.options.root, location.netloc, location.path.lstrip("/")))

    def copy_file(self, request):
        source, target = self._local(request.source).path, self._local(request.target).path
        if not os.path.isfile(source):
            raise SourceNotFound(f"{request.source.url} does not exist")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
        return Copied(os.path.getsize(target))

    def remote_namespace(self, location):
        mover = self

        class Mapped(LocalNamespace):
            def stat(self, loc):
                return super().stat(mover._local(loc))

            def checksum(self, loc, algorithm):
                return super().checksum(mover._local(loc), algorithm)

            def rename(self, src, dst, *, overwrite):
                return super().rename(mover._local(src), mover._local(dst), overwrite=overwrite)

            def remove(self, loc):
                return super().remove(mover._local(loc))

        return Mapped()

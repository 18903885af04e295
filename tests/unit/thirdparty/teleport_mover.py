"""A third-party mover, as someone outside pilot-movers would write it: tele://HOST/PATH URLs
are files under the directory given by the ``root`` option."""

import os
import shutil

from pilot_movers import CopyOutcome, Mover
from pilot_movers.local.namespace import LocalNamespace
from pilot_movers.values import Location


class TeleportMover(Mover):
    name = "teleport"
    schemes = ("tele",)

    def __init__(self, settings=None, *, root, **options):
        super().__init__(settings, **options)
        self.root = root
        self.opened = 0

    def open(self):
        self.opened += 1

    def _local(self, location):
        if location.is_local:
            return location
        return Location.local(os.path.join(self.root, location.netloc, location.path.lstrip("/")))

    def copy_file(self, request):
        source, target = self._local(request.source).path, self._local(request.target).path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
        return CopyOutcome(os.path.getsize(target))

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

"""``python -m datahost_server``: the ``datahost-server`` command."""

import sys

from datahost_server.cli import main

sys.exit(main())

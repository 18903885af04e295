"""pilot-movers' testkit: what a site admin installs to rehearse a queue, and a mover's author to
prove a mover, never what a worker node needs.

* ``grid``: a one-machine grid (throwaway CA, GridFTP, XRootD root:// and https://, MyProxy);
* ``datahost``: a DataHost on that grid's CA (needs ``pilot-movers-datahost``);
* ``globus_emulator`` and ``globus``: the Globus Transfer API emulator and its stand-in Globus
  Connect Personal (``pilot-movers-globus-emulator``, ``pilot-movers-globusconnectpersonal``);
* ``conformance``: the fault cases every mover passes through the real command;
* ``demo``, ``globus_demo``, ``datahost_load``: whole jobs driven on that grid.
"""

#: The version, with the pilot library's (they are released together).
__version__ = "0.1.0"

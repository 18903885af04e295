"""The ``xrootd`` mover: the XRootD Python client (``CopyProcess``, ``FileSystem``)."""

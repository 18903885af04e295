"""The movers as an HTCondor multi-file file-transfer plugin (``pilot-movers-condor-plugin``).

HTCondor's starter runs the plugin for every URL scheme it claims: ``-classad`` asks what it
can do; ``-infile IN -outfile OUT [-upload]`` moves the files IN lists (one ClassAd per file,
``Url`` and ``LocalFileName``) and wants one result ClassAd per file in OUT. All files of one
call go through the engine at once, one mover per scheme (and credential) per call.

Modules: ``classads`` (reading and writing ads, with the ``htcondor`` wheel's ``classad2``),
``requests`` (what an input ad asks for: the URL's credential prefix and checksum suffix),
``condor_creds`` (tokens from ``$_CONDOR_CREDS``), ``job_ad`` (the job ad's settings),
``error_data`` (our errors as ``TransferErrorData``), ``results`` (the result ads) and
``plugin`` (the command).
"""

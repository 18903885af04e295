from pilot_movers.cli import main

raise SystemExit(main())

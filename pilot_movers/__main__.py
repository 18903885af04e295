from pilot_movers.cli import console_main

console_main()

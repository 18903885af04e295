"""What ``pilot-movers`` shows a person at a terminal: live progress, the job's summary, the
dry run's plan and the doctor's findings. The library itself never draws anything."""

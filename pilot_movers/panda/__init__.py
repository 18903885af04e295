"""PanDA's own descriptions, read as they are: the dispatcher's job (getJob) and a queue's
queuedata (CRIC). ``pilot_movers.integrations.pilot3`` is the other way round: these movers
inside the real PanDA Pilot 3."""

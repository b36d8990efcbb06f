"""Tools layer: what the agent (and the surfaces through it) may do — search, records, readiness, drafts."""

"""HTTP routers: thin wiring, the logic lives in the modules they call."""

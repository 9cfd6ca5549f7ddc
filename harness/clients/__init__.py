"""Clients of the running stack: one order client per style, and the fault-control client."""

"""The spans `orderflow bench` collects from its own stack: where they go, how they are read."""

"""The orderflow harness: the `orderflow` command, the process supervisor, load and faults."""

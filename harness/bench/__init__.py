"""orderflow bench: run every style under the same load and write the results."""

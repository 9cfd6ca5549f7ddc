"""Pattern telemetry over time: what the harness reads from every service once a second while
a run's load goes on (their /metrics, their CPU and memory), for results.json and the report."""

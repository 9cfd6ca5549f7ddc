"""The compose test's machinery: a Docker engine, stand-in base images, the compose project."""

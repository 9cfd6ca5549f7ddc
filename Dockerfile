# syntax=docker/dockerfile:1
# One image for the whole project (compose.yaml, docs/compose.md):
#   service   what the four services and Locust's web UI run (non-root)
#   bench     `orderflow bench` in a container: adds Debian's RabbitMQ, so that a scenario that
#             stops the broker can start a private node of its own (harness/rabbit/installation.py)

# The interpreter the project is tested with here (3.11.7); bookworm is the Debian whose
# rabbitmq-server (3.10) the private-broker tests ran against.
FROM python:3.11.7-slim-bookworm AS base

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN python -m venv /opt/venv

# The same two steps as the Makefile's: the lock first (hashes checked, its own layer so a
# source change does not reinstall every dependency), then the project itself, editable so that
# `orderflow` runs from /app, where the scenarios and the locustfile are.
COPY requirements.lock ./
RUN /opt/venv/bin/python -m pip install --quiet --disable-pip-version-check \
        --require-hashes --no-deps -r requirements.lock
COPY . .
RUN /opt/venv/bin/python -m pip install --quiet --disable-pip-version-check \
        --no-deps --no-build-isolation --editable .

ENV PATH=/opt/venv/bin:$PATH \
    ORDERFLOW_DATA_DIR=/data
CMD ["orderflow", "--help"]


FROM base AS service

# /data is where a named volume is mounted: created here, owned by the user, so that Docker
# initialises the volume with that owner and the services can write their databases.
RUN useradd --create-home --uid 10001 orderflow \
    && mkdir /data \
    && chown orderflow /data
USER orderflow
EXPOSE 8000 8001 8002 8003 50050 50051 50052 8089


FROM base AS bench

# rabbitmq-server pulls in Erlang (erlang-base gives `erl`, which harness/rabbit/installation.py looks for).
# It stays root: it writes into a bind-mounted host folder whose owner it cannot know (run it
# with `--user "$(id -u):$(id -g)"` to get files owned by you; the private node then runs as you).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends rabbitmq-server erlang-base \
    && rm -rf /var/lib/apt/lists/*
ENV ORDERFLOW_DATA_DIR=/results
CMD ["orderflow", "bench", "scenarios/baseline.yaml"]


# compose.yaml's `proxy`: Debian's HAProxy in front of the services' replicas, with the
# project's configuration (harness/compose/haproxy.cfg). From the Python image only because it
# is the Debian (bookworm) the project already builds on: no other base image to fetch. Its
# health check is Python's urllib on the statistics page.
FROM python:3.11.7-slim-bookworm AS proxy
RUN apt-get update \
    && apt-get install --yes --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/*
COPY harness/compose/haproxy.cfg /etc/haproxy/haproxy.cfg
RUN haproxy -c -f /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 8000 8001 8002 8003 50050 50051 50052 8404
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]

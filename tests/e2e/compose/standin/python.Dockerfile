# Stand-in for python:<version>-slim-bookworm where no container registry can be reached:
# Debian bookworm's Python 3.11 with venv and pip, as `python` (the project's Dockerfile runs
# `python -m venv`). Built by tests/e2e/compose/standins.py on the Debian root it imports.
ARG BASE
FROM ${BASE}
# The host's CA bundle: HTTPS to PyPI and Debian may pass a proxy that the host trusts.
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.orderflow.standin="python"
CMD ["python3"]

# Stand-in for rabbitmq:<version>-management where no container registry can be reached:
# Debian bookworm's rabbitmq-server with the management plugin, set up as the official image
# is (guest may log in from other hosts, data in /var/lib/rabbitmq, runs as rabbitmq).
ARG BASE
FROM ${BASE}
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
RUN apt-get update \
    && apt-get install -y --no-install-recommends rabbitmq-server \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY 10-defaults.conf /etc/rabbitmq/conf.d/10-defaults.conf
RUN rabbitmq-plugins enable --offline rabbitmq_management
USER rabbitmq
ENV HOME=/var/lib/rabbitmq
EXPOSE 4369 5672 15672 25672
LABEL org.orderflow.standin="rabbitmq"
CMD ["rabbitmq-server"]

# Stand-in for postgres:<version>-bookworm where no container registry can be reached: Debian
# bookworm's PostgreSQL 15, set up as the official image is for what compose.yaml uses of it:
# the data in /var/lib/postgresql/data (PGDATA), the superuser's password from
# POSTGRES_PASSWORD, the scripts and SQL files of /docker-entrypoint-initdb.d run once on a new
# data folder, TCP on every address with password (scram-sha-256) authentication, runs as postgres.
ARG BASE
FROM ${BASE}
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
# No `main` cluster at install: the entry point makes the one in PGDATA.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/standin.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
LABEL org.orderflow.standin="postgres"
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]

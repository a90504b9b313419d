# ChannelWatch container image.
# The build stage runs the same scripts the tests run (scripts/setup.sh, scripts/build.sh),
# so the image cannot drift from the tested build. Runtime settings are environment
# variables only: PUID, PGID, UMASK (see scripts/docker-entrypoint.sh) and CHANNELWATCH_*.

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN SETUP_BUILD_ONLY=1 scripts/setup.sh && scripts/build.sh release

FROM debian:bookworm-slim
# tini reaps and forwards signals; setpriv (util-linux) and usermod/groupmod (passwd) are
# in the base image already and named here because the entrypoint needs them.
# The user's home is /nonexistent so that usermod never walks the data volume.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini util-linux passwd \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 channelwatch \
    && useradd --uid 1000 --gid 1000 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin channelwatch \
    && mkdir -p /config && chown channelwatch:channelwatch /config
COPY --from=build /src/target/release/channelwatch /app/channelwatch
COPY --from=build /src/target/site /app/site
COPY scripts/docker-entrypoint.sh /app/docker-entrypoint.sh
RUN chmod 0755 /app/docker-entrypoint.sh
ENV CHANNELWATCH_DATA_DIR=/config \
    CHANNELWATCH_PORT=8501 \
    LEPTOS_SITE_ROOT=/app/site
VOLUME /config
EXPOSE 8501
# No USER: the entrypoint starts as root, gives the channelwatch user PUID/PGID (default
# 1000/1000), makes /config theirs and drops root before starting the server. Run with
# --user (or Kubernetes runAsUser) and it starts the server directly as that user.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/app/channelwatch", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker-entrypoint.sh"]
CMD ["serve"]

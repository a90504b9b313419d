# ChannelWatch container image.
# The build stage runs the same scripts the tests run (scripts/setup.sh, scripts/build.sh),
# so the image cannot drift from the tested build.

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN SETUP_BUILD_ONLY=1 scripts/setup.sh && scripts/build.sh release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 channelwatch \
    && useradd --uid 1000 --gid 1000 --home-dir /config --no-create-home channelwatch \
    && mkdir -p /config && chown channelwatch:channelwatch /config
COPY --from=build /src/target/release/channelwatch /app/channelwatch
COPY --from=build /src/target/site /app/site
ENV CHANNELWATCH_DATA_DIR=/config \
    CHANNELWATCH_PORT=8501 \
    LEPTOS_SITE_ROOT=/app/site
VOLUME /config
EXPOSE 8501
USER channelwatch
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/app/channelwatch", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/channelwatch"]
CMD ["serve"]

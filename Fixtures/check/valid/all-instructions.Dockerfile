# syntax=docker/dockerfile:1
# check=skip=SecretsUsedInArgOrEnv
ARG BASE=alpine
ARG TAG=3.19
FROM ${BASE}:${TAG} AS base
ARG TAG
ARG USER_ID=1000 GROUP_ID
ENV APP_HOME=/srv/app \
    GREETING="hello world" \
    TAGGED=v${TAG}
LABEL org.opencontainers.image.title="demo app" version=${TAG}
WORKDIR ${APP_HOME}
COPY --chown=${USER_ID}:${GROUP_ID} --chmod=0644 app.conf ./conf/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /opt/
ADD --link --exclude=*.md vendor.tar /opt/vendor/
RUN --network=none --mount=type=cache,target=/var/cache/apk,sharing=locked apk add curl
SHELL ["/bin/sh", "-eu", "-c"]
RUN echo "$GREETING" > greeting.txt
USER ${USER_ID}:${GROUP_ID}
EXPOSE 8080 8443/tcp 9000-9010/udp
VOLUME ["/srv/app/data", "/srv/app/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --start-interval=2s --retries=3 CMD ["curl", "-f", "http://localhost:8080/"]
ONBUILD COPY . /srv/app/src
ENTRYPOINT ["/srv/app/bin/server"]
CMD ["--port", "8080"]

ARG REGISTRY=docker.io
ARG IMAGE=library/alpine:3.19
FROM ${REGISTRY}/${IMAGE}
ARG VERSION=1.2.3-rc1
ARG DIR=/opt/app/bin/tool.tar.gz
ENV PLAIN=$VERSION \
    BRACED=${VERSION} \
    DEFAULT=${VERSION:-fallback} \
    DEFAULT_NOCOLON=${VERSION-fallback} \
    ALTERNATE=${VERSION:+set} \
    ALTERNATE_NOCOLON=${VERSION+set} \
    PREFIX=${DIR#/opt/} \
    LONGPREFIX=${DIR##*/} \
    SUFFIX=${DIR%.gz} \
    LONGSUFFIX=${DIR%%.*} \
    REPLACE=${VERSION/./_} \
    REPLACEALL=${VERSION//./_} \
    ESCAPED=\$VERSION \
    SINGLE='$VERSION' \
    DOUBLE="$VERSION"
WORKDIR /opt/${VERSION}

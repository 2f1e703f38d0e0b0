FROM --platform=$TARGETPLATFORM alpine:3.19 AS redundant
FROM --platform=linux/amd64 alpine:3.19 AS constant
FROM --platform=linux/amd64 alpine:3.19 AS build-amd64
FROM --platform=$NOT_DECLARED alpine:3.19 AS undeclared

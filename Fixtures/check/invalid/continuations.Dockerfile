FROM alpine:3.19
RUN apk add \

    curl \

    jq
ENV A=1 \

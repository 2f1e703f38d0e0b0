FROM alpine:3.19 AS Builder
COPY --from=builder /a /a
COPY --from=later /b /b
COPY --from=biulder /c /c
COPY --from=nginx /etc/nginx /etc/nginx
COPY --from=5 /d /d
COPY --from=$STAGE /e /e
RUN --mount=type=bind,from=later,target=/mnt true

FROM alpine:3.19 as later
COPY --from=builder /a /a

FROM alpine:3.19 AS builder
FROM builder AS scratch
FROM later AS later2
FROM Later

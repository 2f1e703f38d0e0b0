FROM --platfrom=linux/amd64 alpine:3.19
COPY --chwon=1000 a /a
COPY --chown=1 --chown=2 b /b
COPY --from c /c
COPY --link=yes d /d
ADD --keep-git-dir=maybe e /e
ENV --foo=bar A=1
RUN --network=bridge echo
RUN --security=privileged echo
CMD --listen=:80
COPY app /app --chown=1000
FROM alpine --platform=linux/amd64

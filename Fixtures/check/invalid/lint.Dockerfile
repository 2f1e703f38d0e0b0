FROM alpine:3.19
MAINTAINER Jane Doe <jane@example.com>
WORKDIR app
WORKDIR /srv
CMD echo one
CMD ["echo", "two"]
ENTRYPOINT run-server --port 80
HEALTHCHECK CMD true
HEALTHCHECK NONE
ENV DEBUG 1
run echo mixed case
From alpine:3.19

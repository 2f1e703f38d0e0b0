# syntax=docker/dockerfile:1-labs
FROM --platform=linux/s390x alpine:3.19
RUN --mount=type=ssh git clone git@github.com:example/private.git
RUN --security=insecure echo needs privileges
RUN --device=nvidia.com/gpu=all nvidia-smi
ADD https://github.com/moby/buildkit.git#v0.14.0 /src
ADD git@github.com:example/repo.git /repo
RUN --mount=type=cache,target=/c,from=base true
COPY --chmod=u+x app /app

# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
RUN --mount=type=bind,target=. --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM build AS test
RUN --mount=type=secret,id=token,env=TOKEN go test ./...

FROM gcr.io/distroless/static:nonroot AS final
COPY --from=build --link /out/app /app
COPY --from=0 /out/app /app-again
COPY --from=build --parents /src/./cmd/ /srcs/
USER nonroot:nonroot
ENTRYPOINT ["/app"]

FROM Alpine:3.19
FROM alpine:-bad
FROM registry.example.com:port/app:1
FROM alpine@sha256:1234
FROM my_registry/App
FROM localhost:5000/team/app:v1.0

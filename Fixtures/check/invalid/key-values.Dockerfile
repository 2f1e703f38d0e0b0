FROM alpine:3.19
ENV A=1 B
ENV =empty
ENV LONELY
LABEL maintainer "Jane Doe" version=1
ARG =x
ENV C="unterminated
LABEL legacy value with spaces
ENV TOKEN_VALUE=x API_KEY=y PUBLIC_KEY=z
ARG DB_PASSWORD

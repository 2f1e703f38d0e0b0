FROM debian:12
RUN set -eux; \
    apt-get update; \
# comments inside a continuation are dropped
    apt-get install -y --no-install-recommends \
        ca-certificates \
        curl; \
    rm -rf /var/lib/apt/lists/*
# A line ending in an escaped escape character is not a continuation.
RUN echo C:\\
RUN   echo "extra spaces after the keyword"
CMD ["bash"]

FROM alpine:3.19
LABEL description="café â‚"
RUN echo "ÿ"

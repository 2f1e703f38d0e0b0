FROM alpine:3.19
COPY app /app
RUN chmod +x /app
CMD ["/app"]

FROM alpine:3.19
CMD ["sleep", 5]
ENTRYPOINT ["nginx", "-g", "daemon off;"
RUN ['echo', 'single quotes']
SHELL /bin/bash -c
COPY ["a", "b"

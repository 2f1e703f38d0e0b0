ARG VERSION=1
RUN echo before any stage

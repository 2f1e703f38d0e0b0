FROM alpine:3.19
RUN --mount=type=volume,target=/x true
RUN --mount=type=cache,target=/x,sharing=everyone true
RUN --mount=type=bind,target=/x,mode=0755 true
RUN --mount=type=secret,id=a,from=build true
RUN --mount=type=cache,target=/x,colour=blue true
RUN --mount=type=bind,target=/x,readonly=maybe true
RUN --mount=type=tmpfs,target=/x,size=64m,required true
RUN --mount=type=bind,from=$STAGE,target=/x true

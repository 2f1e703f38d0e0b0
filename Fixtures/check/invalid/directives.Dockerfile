# escape=/
# syntax=docker/dockerfile:1
# syntax=docker/dockerfile:1.7
# check=skip=JSONArgsRecommended;warn=true
FROM alpine:3.19
# escape=`
CMD echo hi

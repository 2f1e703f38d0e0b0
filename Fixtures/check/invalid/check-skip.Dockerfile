# check=skip=JSONArgsRecommended,MaintainerDeprecated;error=true
FROM alpine:3.19
MAINTAINER skipped
CMD echo skipped
ENV A 1

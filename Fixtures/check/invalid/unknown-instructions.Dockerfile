FORM alpine:3.19
FROM alpine:3.19
RUNN make
CPY . /src
ENTRYPOIN ["/app"]
FOOBAR baz

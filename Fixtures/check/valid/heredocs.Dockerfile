# syntax=docker/dockerfile:1
FROM alpine:3.19
ARG NAME=world
RUN <<EOF
set -e
echo "hello $NAME"
EOF
RUN <<-"INDENTED" sh
	echo "tabs are stripped, $NAME is not expanded by Docker"
	INDENTED
RUN <<FIRST cat > /first && <<SECOND cat > /second
first body
FIRST
second body
SECOND
RUN 3<<EOF cat /dev/fd/3
from fd 3
EOF
COPY <<EOF /etc/motd
Welcome, ${NAME}!
EOF
COPY <<'RAW' <<CONF /etc/app/
$NOT_EXPANDED
RAW
name=${NAME}
CONF
RUN python3 <<'PY'
print("#!/not/a/shebang inside python")
PY
ONBUILD RUN <<EOF
echo triggered
EOF

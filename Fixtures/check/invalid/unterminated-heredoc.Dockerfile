FROM alpine:3.19
RUN <<EOF
echo "this heredoc never ends"
EOFX
CMD ["true"]

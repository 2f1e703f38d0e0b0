FROM busybox:1.36
RUN ["sh", "-c", "echo \"quoted\" \u00e9t\u00e9 \ud83d\ude00 \t tab"]
RUN [ "echo" , "spaces", "around" ]
COPY ["file with spaces.txt", "/dest dir/"]
VOLUME /data /cache
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $HOME"]

# escape=`
# syntax=docker/dockerfile:1

FROM mcr.microsoft.com/windows/servercore:ltsc2022
WORKDIR C:\app
COPY build\ C:\app\
RUN dir C:\ `
    && echo done
RUN echo one `
# a comment inside the continuation
    two

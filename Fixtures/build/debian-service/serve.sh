#!/bin/sh
# Stands in for a service: says how it would start, as whom, and what it found.
if [ "$1" = "--check" ]; then echo healthy; exit 0; fi
echo "serving on $2 as $(id -un) in $(pwd); data $(stat -c %U "$APP_HOME/data"); $(cat "$APP_HOME/ca.txt")"

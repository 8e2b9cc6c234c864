#!/bin/sh
# check-openlitespeed.sh BINARY: OpenLiteSpeed's configuration test passes when it prints no [ERROR]
# line (-t exits 1 on mere warnings), with its work directory there (without it, -t passes anything).
set -u
mkdir -p /tmp/lshttpd || exit 1
if "$1" -t 2>&1 | grep -F '[ERROR]'; then exit 1; fi
exit 0

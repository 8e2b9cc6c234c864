#!/bin/sh
# check-dovecot.sh SERVICE: Dovecot's configuration checked (doveconf), and the directory of the
# script service SERVICE's listener made: Dovecot makes it when it starts, not when it reloads, so a
# reload that adds the service fails to bind, and Dovecot 2.4.1 then dies of an assertion.
set -u
doveconf -n >/dev/null && base=$(doveconf -h base_dir) && mkdir -p -- "$base/$1"

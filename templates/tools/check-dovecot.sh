#!/bin/sh
# check-dovecot.sh SERVICE: Dovecot's configuration checked as its master reads it (doveconf -x
# expands variables: without it doveconf passes a value the master then refuses, and a reload keeps
# the old configuration while systemctl says it worked), and the directory of the script service
# SERVICE's listener made: Dovecot makes it when it starts, not when it reloads, so a reload that
# adds the service fails to bind, and Dovecot 2.4.1 then dies of an assertion.
set -u
doveconf -n -x >/dev/null && base=$(doveconf -h base_dir) && mkdir -p -- "$base/$1"

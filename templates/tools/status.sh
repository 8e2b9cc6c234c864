#!/bin/sh
# status.sh REDIS_SOCKET REDIS_CLIENT_AUTH CLAMAV_DB_DIR RSPAMD_STATS N_UNITS UNIT... PROBE SERVER PORT RBL_CONF NAME...
#
# What status.py judges, read in one command and changing nothing: each UNIT's state, Postfix's
# milters and HELO name, the listening TCP sockets (the kernel's table: no tool needed), rspamd's
# configtest and the counters it saves (RSPAMD_STATS), the newest ClamAV signature file, Redis's memory and last save,
# Bayes's learned counts, Postfix's queue, and the blocklist PROBE (mailguard/dnsbl.py, run by bash)
# asked for each NAME through SERVER:PORT. Every answer is one line "@@status KEY BASE64", so that
# nothing a file or a queued message holds can pose as another answer; the last line is
# "@@status end".
set -u -f  # (no globbing: a name Redis holds is never a pattern)
socket=$1 client_auth=$2 clamav_db=$3 rspamd_stats=$4 units=$5
shift 5

say() { printf '@@status %s %s\n' "$1" "$(printf '%s' "$2" | base64 -w0)"; }
# A file in a directory a service user can write (rspamd's counters): read only if it is a regular
# file, through a descriptor that is the very file lstat saw (a link planted there is never followed).
regular_text() {
    seen=$(stat -c '%F %d:%i' -- "$1" 2>/dev/null) || return 0
    case $seen in
        regular*) { [ "$(stat -L -c '%F %d:%i' /proc/self/fd/3)" = "$seen" ] && cat <&3; } 3<"$1" 2>/dev/null ;;
    esac
}

i=0
while [ "$i" -lt "$units" ]; do
    say unit "$1 $(systemctl is-active -- "$1" 2>/dev/null)"
    shift
    i=$((i + 1))
done
probe=$1 server=$2 port=$3 rbl_conf=$4
shift 4

say now "$(date +%s)"
say milters "$(postconf -h smtpd_milters 2>&1)"
say non-smtpd-milters "$(postconf -h non_smtpd_milters 2>&1)"
say helo "$(postconf -xh smtp_helo_name 2>&1)"
say listening "$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)"
out=$(rspamadm configtest 2>&1)
say configtest "$? $out"
say counters "$(regular_text "$rspamd_stats")"
# modification times only (no name: a file name cannot add a fresher one): ClamAV's official
# databases, and the local signature files beside them
say signatures "$(find "$clamav_db" -maxdepth 1 -type f \( -name '*.cvd' -o -name '*.cld' \) -printf '%T@\n' 2>/dev/null)"
say local-signatures "$(find "$clamav_db" -maxdepth 1 -type f \( -name '*.hdb' -o -name '*.hsb' -o -name '*.ndb' \
    -o -name '*.ldb' \) -printf '%T@\n' 2>/dev/null)"

# as the deploy's own Redis user, where Redis has users (CLIENT_AUTH: its name, then its password)
user='' password=''
{ read -r user && read -r password; } 2>/dev/null <"$client_auth"
if [ -n "$password" ]; then
    REDISCLI_AUTH=$password
    export REDISCLI_AUTH
fi
redis_cli() { if [ -n "$password" ]; then redis-cli --user "$user" "$@"; else redis-cli "$@"; fi; }
say redis "$(redis_cli -s "$socket" INFO 2>&1)"
for pair in spam:BAYES_SPAM ham:BAYES_HAM; do
    class=${pair%%:*} symbol=${pair#*:}
    total=0
    for key in $(redis_cli -s "$socket" --raw SMEMBERS "${symbol}_keys" 2>/dev/null); do
        learned=$(redis_cli -s "$socket" --raw HGET "$key" "learns_$class" 2>/dev/null)
        case $learned in '' | *[!0-9]*) learned=0 ;; esac
        total=$((total + learned))
    done
    say "learned-$class" "$total"
done

say queue-size "$(postqueue -j 2>/dev/null | wc -l)"
say queue "$(postqueue -j 2>/dev/null | head -n 1000)"
say dnsbl "$(bash -c "$probe" dnsbl-probe "$server" "$port" "$rbl_conf" "$@" 2>&1)"
say end ""

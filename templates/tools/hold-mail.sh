#!/bin/sh
# Managed by mailguard: mailguard-hold-mail on|off, around a restart of rspamd.
# on:  Postfix answers 4xx (milter_default_action = tempfail) instead of passing mail
#      unscanned while rspamd is down; sending servers retry. A reload lets SMTP sessions that
#      are already open finish under the old value, so this waits (up to 30 s) until every
#      smtpd process that predates the reload has ended, while rspamd still scans.
# off: back to accept, the value the deploy manages.
set -eu
case "${1:-}" in
    on)
        postconf -e milter_default_action=tempfail
        postfix reload 2>/dev/null
        start=$(date +%s)
        while :; do
            waited=$(( $(date +%s) - start ))
            old=$(ps -C smtpd -o etimes= | awk -v w="$waited" '$1 > w + 1' | wc -l)
            [ "$old" -eq 0 ] && break
            if [ "$waited" -ge 30 ]; then
                echo "mailguard: $old SMTP session(s) still open after 30 s; going on" >&2
                break
            fi
            sleep 0.5
        done
        ;;
    off)
        postconf -e milter_default_action=accept
        postfix reload 2>/dev/null
        ;;
    *) echo "usage: $0 on|off" >&2; exit 2 ;;
esac

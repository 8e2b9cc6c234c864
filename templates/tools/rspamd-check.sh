#!/bin/sh
# Managed by mailguard: check rspamd's configuration before it is activated.
# rspamadm configtest says "syntax OK" even when a module fails to load, so the module
# states are checked too: none failed, and each module named as an argument is enabled.
# With --wait-ready: wait (up to 120 s) until a restarted rspamd answers again, so that no
# message meets a milter that is still starting (it would pass unscanned): the controller,
# the normal worker and the milter port (11332) must all answer.
# Everything goes to stderr, where pyinfra shows a failed command's reasons.
exec 1>&2
if [ "${1:-}" = "--wait-ready" ]; then
    i=0
    while [ $i -lt 240 ]; do
        if curl -sf -o /dev/null http://localhost:11334/ping && curl -sf -o /dev/null http://localhost:11333/ping \
            && bash -c '</dev/tcp/127.0.0.1/11332' 2>/dev/null; then
            exit 0
        fi
        sleep 0.5
        i=$((i + 1))
    done
    echo "rspamd did not answer within 120 s"
    exit 1
fi
out=$(rspamadm configtest 2>&1) || { echo "$out"; exit 1; }
state=$(rspamadm configdump -m 2>&1) || { echo "$state"; exit 1; }
failed=$(echo "$state" | sed -n 's/^Modules disabled (failed): *//p')
if [ -n "$failed" ]; then
    echo "rspamd modules failed to load: $failed"
    echo "$state" | grep -v '^Modules'
    exit 1
fi
enabled=" $(echo "$state" | sed -n 's/^Modules enabled: //p' | tr -d ,) "
for module in "$@"; do
    case "$enabled" in
        *" $module "*) ;;
        *) echo "rspamd module $module did not load:"; echo "$state" | grep -v '^Modules'; exit 1 ;;
    esac
done
echo "rspamd configuration OK"

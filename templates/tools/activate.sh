#!/bin/sh
# activate.sh SERVICE UNIT VERB LAST_GOOD ROLLBACK HOLD N_MARKERS N_CHECK MARKER... CHECK... READY...
#
# SERVICE's new configuration checked (CHECK, a program and its arguments; none when N_CHECK is 0),
# then `systemctl VERB UNIT`, then READY (a program and its arguments, if any) waited for; then the
# pending MARKERs and the last good copies (the directory LAST_GOOD) are dropped. Should the restart
# or READY fail, the markers stay: the next run acts again.
# A failed check puts the last good files back (ROLLBACK SERVICE), drops the markers and fails: the
# service is neither restarted nor reloaded.
# HOLD: a program run with "on" before a restart and with "off" once the service is ready again,
# whether or not the restart worked ("" for none): Postfix holds mail while rspamd restarts.
set -u
service=$1 unit=$2 verb=$3 last_good=$4 rollback=$5 hold=$6 markers=$7 checks=$8
shift 8
readies=$(($# - markers - checks))

# slice START COUNT COMMAND ARG...: COMMAND run with ARG[START] to ARG[START+COUNT-1]
slice() {
    start=$1 count=$2 command=$3
    shift 3
    i=0
    for arg do
        shift
        if [ "$i" -ge "$start" ] && [ "$i" -lt $((start + count)) ]; then set -- "$@" "$arg"; fi
        i=$((i + 1))
    done
    "$command" "$@"
}
run() { "$@"; }
clear() { rm -f -- "$@"; }
checked() { [ "$checks" -eq 0 ] || slice "$markers" "$checks" run "$@"; }
act() { systemctl "$verb" "$unit" && { [ "$readies" -eq 0 ] || slice $((markers + checks)) "$readies" run "$@"; }; }

if ! checked "$@"; then
    "$rollback" "$service"
    slice 0 "$markers" clear "$@"
    exit 1
fi
if [ -n "$hold" ] && [ "$verb" = restart ]; then
    "$hold" on || exit 1
    act "$@"
    restarted=$?
    "$hold" off
    [ "$restarted" -eq 0 ] || exit 1
else
    act "$@" || exit 1
fi
slice 0 "$markers" clear "$@"
rm -rf -- "$last_good"

#!/bin/sh
# first-signatures.sh FRESHCLAM_UNIT TRIES: ClamAV's first signature download (clamd will not start
# without one, and freshclam's unit may not have run yet). The freshclam daemon holds freshclam's
# lock: it is stopped for the download. The mirrors rate-limit and fail now and then: a few tries,
# then one line that says what to do.
set -u
unit=$1 tries=$2
systemctl stop "$unit"
try=1
while [ "$try" -le "$tries" ]; do
    if freshclam --quiet; then exit 0; fi
    try=$((try + 1))
    if [ "$try" -le "$tries" ]; then sleep 20; fi
done
echo "mailguard: freshclam could not download ClamAV signatures ($tries tries): check that this host" \
    "reaches database.clamav.net, or set antivirus = false, then rerun" >&2
exit 1

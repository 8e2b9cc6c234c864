#!/bin/sh
# swap-stopped.sh UNIT NEW PATH: NEW renamed over PATH while UNIT is stopped (Redis saves its data
# when it stops, so its dump can only be replaced in between), and UNIT started again whether the
# rename worked or not; fails when either failed.
set -u
unit=$1 new=$2 path=$3
systemctl stop "$unit" || exit 1
mv -fT -- "$new" "$path"
renamed=$?
systemctl start "$unit" || exit 1
exit "$renamed"

#!/bin/sh
# Managed by mailguard: keep a file's last good version before the deploy changes it.
# mailguard-stash SERVICE PATH: the first call since SERVICE's configuration was last
# activated copies PATH (or notes that it did not exist); later calls keep that copy, so it
# is what the running service loaded. mailguard-rollback puts it back if the check fails.
set -eu
umask 077
store="/var/lib/mailguard/last-good/$1"
copy="$store$2"
if [ -e "$copy" ] || [ -e "$copy.absent" ]; then
    exit 0
fi
mkdir -p "$(dirname "$copy")"
if [ -e "$2" ]; then cp -p "$2" "$copy"; else touch "$copy.absent"; fi

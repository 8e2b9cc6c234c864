#!/bin/sh
# Managed by mailguard: after a failed configuration check, put SERVICE's changed files back
# to the versions mailguard-stash kept (the ones the running service loaded).
set -eu
store="/var/lib/mailguard/last-good/$1"
[ -d "$store" ] || exit 0
count=0
for copy in $(cd "$store" && find . -type f | sed 's|^\.||'); do
    case "$copy" in
        *.absent) rm -f "${copy%.absent}" ;;
        *) cp -p "$store$copy" "$copy.mailguard-restore" && mv -f "$copy.mailguard-restore" "$copy" ;;
    esac
    count=$((count + 1))
done
rm -rf "$store"
echo "mailguard: $1's configuration check failed: $count file(s) put back as they were; $1 was not restarted or reloaded" >&2

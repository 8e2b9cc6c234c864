#!/bin/sh
# download.sh URL PATH: URL fetched once to PATH (a repository's signing key): beside it first, made
# readable, then renamed into place, so that PATH is whole or absent.
set -eu
url=$1 path=$2
curl -fsSL --retry 3 -o "$path.mailguard-new" "$url"
chmod 644 "$path.mailguard-new"
mv -f -- "$path.mailguard-new" "$path"

#!/bin/sh
# backup-archive.sh DIR SUMS REDIS_SOCKET REDIS_CLIENT_AUTH HANDOVER [ITEM dir|file PATH]...
#
# backup.py's archive. Gathered in the root-only DIR: each ITEM copied from PATH (of a directory its
# regular files only: a link is never followed), a Redis dump taken over Redis's own socket, a
# checksum per file in SUMS; archived, then handed over in HANDOVER, a directory made new here that
# only the user who logged in owns (sudo's SUDO_USER, else root): the controller fetches it from
# there without sudo, so no copy of a key is ever readable by another user. Prints one line.
set -eu
umask 077
dir=$1 sums=$2 socket=$3 client_auth=$4 handover=$5
shift 5
rm -rf -- "$dir"
mkdir -p -- "$dir/files"
while [ $# -ge 3 ]; do
    item=$1 kind=$2 path=$3
    shift 3
    case $kind in
        dir)
            if [ -d "$path" ] && [ ! -L "$path" ]; then
                mkdir -- "$dir/files/$item"
                find "$path" -mindepth 1 -maxdepth 1 -type f -exec cp -P -- {} "$dir/files/$item/" \;
            fi
            ;;
        file)
            if [ -f "$path" ] && [ ! -L "$path" ]; then cp -P -- "$path" "$dir/files/$item"; fi
            ;;
    esac
done
if [ -S "$socket" ]; then
    # as the deploy's own Redis user, where Redis has users (CLIENT_AUTH: its name, then its password)
    user='' password=''
    { read -r user && read -r password; } 2>/dev/null <"$client_auth" || true
    if [ -n "$password" ]; then
        REDISCLI_AUTH=$password
        export REDISCLI_AUTH
        redis-cli --user "$user" -s "$socket" --rdb "$dir/files/redis.rdb" >/dev/null
    else
        redis-cli -s "$socket" --rdb "$dir/files/redis.rdb" >/dev/null
    fi
fi
(cd "$dir/files" && find . -type f -print0 | sort -z | xargs -0r sha256sum) >"$dir/$sums.new"
mv -- "$dir/$sums.new" "$dir/files/$sums"
tar -C "$dir/files" -cf "$dir/backup.tar" .
owner=${SUDO_USER:-${DOAS_USER:-root}}
mkdir -- "$handover"  # fails where anything has that name: never a directory another user made
# the archive in place while the directory is still root's, then both handed to the login user
install -m 600 -o "$owner" -- "$dir/backup.tar" "$handover/backup.tar"
chown -- "$owner" "$handover"
echo "backup made: $(find "$dir/files" -type f -printf x | wc -c) files, $(wc -c <"$dir/backup.tar") bytes"

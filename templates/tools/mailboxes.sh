#!/bin/sh
# mailboxes.sh SOCKET FOLDER: whether rspamd's learning SOCKET is there ("socket"), then per Dovecot
# user "user NAME JUNK INBOX": the user's name in base64 (a name may hold any byte but NUL) and how
# many messages FOLDER and INBOX hold.
set -u
socket=$1 folder=$2
if [ -S "$socket" ]; then echo socket; fi
doveadm user '*' 2>/dev/null | while IFS= read -r user; do
    junk=$(doveadm search -u "$user" mailbox "$folder" ALL 2>/dev/null | wc -l)
    inbox=$(doveadm search -u "$user" mailbox INBOX ALL 2>/dev/null | wc -l)
    printf 'user %s %s %s\n' "$(printf '%s' "$user" | base64 -w0)" "$junk" "$inbox"
done

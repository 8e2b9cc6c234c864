#!/bin/sh
# mailguard's read of a host, in one command: what system it is (the profile) and the state of
# every path, unit, package and setting the deploy manages. Root runs it. Every name comes in as an
# argument, never as shell text, and goes out framed, so that no byte of a name another user chose
# (a file in a directory a service user owns) can end one answer and start another.
#
#   read-host.sh [profile DISK_PATH OPENDKIM_CONF REDIS_SOCKET REDIS_CLIENT_AUTH
#                         SENTINEL_HOST SENTINEL_PORT SENTINEL_MASTER N PATH... N TEXT... N PASSWORD_FILE... N KEY_DIR...]
#                [state MANAGED_MARK REDIS_CLIENT_AUTH [KIND N ARG...]...]
#
# The profile prints NAME=VALUE lines; a value another user could choose is base64. The state read
# prints the line @@mailguard-state, then one line per KIND group in the order asked: the base64 of
# the group's answers, each ended by a NUL byte (operations/readhost.py parses each kind's form).
# A link is never followed where a file is read: its content is read through a descriptor that is
# the very regular file lstat saw.
set -u
LC_ALL=C
export LC_ALL
STATE_MARK=@@mailguard-state

# with_first N COMMAND ARG...: COMMAND run with the first N of ARG... only
with_first() {
    n=$1 command=$2
    shift 2
    i=0
    for arg do
        shift
        if [ "$i" -lt "$n" ]; then set -- "$@" "$arg"; fi
        i=$((i + 1))
    done
    "$command" "$@"
}

is_regular() { [ -f "$1" ] && [ ! -L "$1" ]; }

b64() { printf '%s' "$1" | base64 -w0; }

# redis_ask CLIENT_AUTH SOCKET ARG...: redis-cli on SOCKET, as the user CLIENT_AUTH names (its
# first line; its password the second) where Redis has users. With a password, never over TCP:
# whoever listens on Redis's port would be handed it. Without one, the default port answers for a
# Redis the deploy has not given its socket yet.
redis_ask() {
    user='' password=''
    { read -r user && read -r password; } 2>/dev/null <"$1"
    socket=$2
    shift 2
    if [ -n "$password" ]; then
        REDISCLI_AUTH=$password redis-cli --user "$user" -s "$socket" "$@" 2>/dev/null
    else
        redis-cli -s "$socket" "$@" 2>/dev/null || redis-cli "$@" 2>/dev/null
    fi
}

# --- the state read's kinds: each ARG's answer ended by a NUL, unless the kind says otherwise ---

# stat (batched): for each path that exists, its name, then "user group mode type", each ended by
# NUL (a link is described, never followed)
answer_stat() { stat --printf '%n\0%U %G %a %F\0' -- "$@" 2>/dev/null; }

# sha256 (batched): sha256sum's line for each regular file, ended by NUL (sha256sum escapes a
# name with a newline or a backslash in it, and marks the line with a leading backslash)
answer_sha256() {
    for path do
        shift
        if is_regular "$path"; then set -- "$@" "$path"; fi
    done
    if [ $# -gt 0 ]; then sha256sum -- "$@" 2>/dev/null | tr '\n' '\0'; fi
}

# managed: 1 when the file's first two lines carry the mark, else 0 (nothing else of its text)
answer_managed() {
    for path do
        shift
        if is_regular "$path"; then set -- "$@" "$path"; else set -- "$@" /dev/null; fi
    done
    awk -v mark="$managed_mark" 'BEGIN {
        for (i = 1; i < ARGC; i++) {
            found = 0
            for (n = 0; n < 2 && (getline line < ARGV[i]) > 0; n++) if (index(line, mark)) found = 1
            close(ARGV[i]); printf "%d\n", found
        }
    }' "$@" | tr '\n' '\0'
}

# text: "b64:" and the content's base64, for a regular file
answer_text() {
    for path do
        if is_regular "$path"; then
            seen=$(stat -c '%F %d:%i' -- "$path" 2>/dev/null)
            case $seen in
                regular*)
                    { [ "$(stat -L -c '%F %d:%i' /proc/self/fd/3)" = "$seen" ] && printf 'b64:' && base64 -w0 <&3; } \
                        3<"$path" 2>/dev/null
                    ;;
            esac
        fi
        printf '\0'
    done
}

answer_groups() { for user do id -Gn -- "$user" 2>/dev/null; printf '\0'; done; }

# group: the group's name where the system has such a group
answer_group() { for group do getent group -- "$group" 2>/dev/null | cut -d: -f1; printf '\0'; done; }

# postconf (batched): postconf's "name = value" lines, each ended by NUL
answer_postconf() { postconf -- "$@" 2>/dev/null | tr '\n' '\0'; }
# setting (batched): the same, of only the parameters main.cf itself sets
answer_setting() { postconf -n -- "$@" 2>/dev/null | tr '\n' '\0'; }

# master: master.cf's services (postconf -M) or their -o parameters (postconf -P), whole
answer_master() {
    for what do
        case $what in
            services) postconf -M 2>/dev/null ;;
            params) postconf -P 2>/dev/null ;;
        esac
        printf '\0'
    done
}

# pubkey, edpubkey: the public half of a private key (the DKIM record's p=); the key stays here
answer_pubkey() {
    for path do
        if is_regular "$path"; then openssl pkey -in "$path" -pubout -outform DER 2>/dev/null | base64 -w0; fi
        printf '\0'
    done
}
answer_edpubkey() {  # rspamd's Ed25519 key file: base64 of seed and public key, the last 32 bytes
    for path do
        if is_regular "$path"; then base64 -d <"$path" 2>/dev/null | tail -c 32 | base64 -w0; fi
        printf '\0'
    done
}

# unit (batched): systemctl show's block per unit, in the order asked, its lines ended by NUL (an
# empty record between two units)
answer_unit() {
    systemctl show -p LoadState -p ActiveState -p UnitFileState -- "$@" 2>/dev/null | tr '\n' '\0'
}

# deb (batched): for each installed package known to dpkg, its name, then "status version"
answer_deb() {
    dpkg-query -W -f='${Package}\n${db:Status-Status} ${Version}\n' -- "$@" 2>/dev/null | tr '\n' '\0'
}

answer_rpm() {
    for package do
        rpm -q --qf 'installed %{VERSION}\n' "$package" 2>/dev/null | grep '^installed '
        printf '\0'
    done
}

# glob: the paths a pattern (ours, never a name from outside) matches, each ended by NUL, then an
# empty record. The shell's own expansion: no process.
answer_glob() {
    IFS=
    for pattern do
        # shellcheck disable=SC2086  # the pattern is expanded on purpose (IFS is empty: no splitting)
        for path in $pattern; do
            if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
        done
        printf '\0'
    done
}

answer_sebool() { for boolean do getsebool -- "$boolean" 2>/dev/null; printf '\0'; done; }

answer_dnfrepo() {  # "enabled" where a [section] of that name in /etc/yum.repos.d says so
    for repo do
        awk -v want="$repo" '/^\[/ {s = substr($0, 2, index($0, "]") - 2)}
            s == want && /^enabled *= *(1|yes|true)/ {print "enabled"}' /etc/yum.repos.d/*.repo 2>/dev/null
        printf '\0'
    done
}

answer_firewalld() {
    for what do
        case $what in
            services) firewall-cmd --permanent --list-services 2>/dev/null ;;
            rich-rules) firewall-cmd --permanent --list-rich-rules 2>/dev/null ;;
        esac
        printf '\0'
    done
}

# pwhash: per controller password, "name salt sha256-of-the-hash" (never the hash). Not printed by
# the deploy at any verbosity: with the salt, the digest would let a password be checked.
answer_pwhash() {
    for path do
        if is_regular "$path"; then
            sed -n 's/^[[:space:]]*\(password\|enable_password\)[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1 \2/p' \
                -- "$path" 2>/dev/null | while read -r key value; do
                rest=${value#\$*\$}  # $1$<salt>$<key>: the salt by the shell's own expansion
                digest=$(printf %s "$value" | sha256sum)
                printf '%s %s %s\n' "$key" "${rest%%\$*}" "${digest%% *}"
            done
        fi
        printf '\0'
    done
}

# dbsize: how many keys the Redis on that socket holds
answer_dbsize() {
    for socket do
        redis_ask "$redis_client_auth" "$socket" dbsize | grep -x '[0-9]*'
        printf '\0'
    done
}

state() {
    echo "$STATE_MARK"
    managed_mark=$1 redis_client_auth=$2
    shift 2
    d=$(mktemp -d) || exit 1
    group=0
    # Each group side by side (most of the time is process starts), into its own file in a
    # root-only directory; printed in order once all have ended.
    while [ $# -ge 2 ]; do
        kind=$1 count=$2
        shift 2
        case $kind in
            stat | sha256 | managed | text | groups | group | postconf | setting | master | pubkey | edpubkey | unit | deb | rpm | \
                glob | sebool | dnfrepo | firewalld | pwhash | dbsize) ;;
            *) echo "read-host: unknown kind $kind" >&2; rm -rf "$d"; exit 2 ;;
        esac
        if [ "$count" -gt $# ]; then echo "read-host: $kind: fewer arguments than $count" >&2; rm -rf "$d"; exit 2; fi
        # its own file, named so that the files sort as the groups do, for the one cat below (the
        # shell's own read takes a byte a system call: slow for a file's text)
        { (with_first "$count" "answer_$kind" "$@") 2>/dev/null | base64 -w0; echo; } >"$d/$((1000000 + group))" &
        shift "$count"
        group=$((group + 1))
    done
    wait
    if [ "$group" -gt 0 ]; then cat "$d"/*; fi
    rm -rf "$d"
}

# --- the profile ---

profile() {
    disk_path=$1 opendkim_conf=$2 redis_socket=$3 client_auth=$4
    sentinel_host=$5 sentinel_port=$6 sentinel_master=$7
    shift 7
    # Files read whole (never secrets): those asked, and OpenDKIM's KeyTable and SigningTable where
    # its configuration names them (plain or refile:).
    count=$1
    shift
    while [ "$count" -gt 0 ]; do
        if [ -e "$1" ]; then printf 'exists=%s\n' "$(b64 "$1")"; fi
        shift
        count=$((count - 1))
    done
    count=$1
    shift
    tables=
    if is_regular "$opendkim_conf"; then
        tables=$(awk 'tolower($1) == "keytable" || tolower($1) == "signingtable" {
            sub(/^(re)?file:/, "", $2); print $2}' "$opendkim_conf")
    fi
    while [ "$count" -gt 0 ]; do
        text_of "$1"
        shift
        count=$((count - 1))
    done
    printf '%s\n' "$tables" | while IFS= read -r table; do if [ -n "$table" ]; then text_of "$table"; fi; done
    # The controller's stored password hashes (salt and a digest, never the hash).
    count=$1
    shift
    while [ "$count" -gt 0 ]; do
        answer_pwhash "$1" | tr -d '\0' | sed 's/^/pwhash=/'
        shift
        count=$((count - 1))
    done
    # A sha256 of each DKIM key (regular files only): several hosts of a run must hold the same.
    count=$1
    shift
    while [ "$count" -gt 0 ]; do
        printf 'dkimkeys='
        find "$1" -maxdepth 1 -type f -name '*.key' -exec sha256sum -- {} + 2>/dev/null | base64 -w0
        echo
        shift
        count=$((count - 1))
    done
    # A host about to become a Redis replica: whether its Redis is one already, and what it holds.
    if [ -n "$redis_socket" ]; then
        echo "redis_keys=$(redis_ask "$client_auth" "$redis_socket" dbsize | grep -x '[0-9]*')"
        echo "redis_role=$(redis_ask "$client_auth" "$redis_socket" info replication | tr -d '\r' | sed -n 's/^role://p')"
    fi
    # A group whose sentinels choose the primary: where this host's sentinel says it is (it asks
    # nothing of anyone: it answers where the primary is, and nothing else, to a login-less client).
    if [ -n "$sentinel_host" ]; then
        primary=$(redis-cli --raw -h "$sentinel_host" -p "$sentinel_port" \
            sentinel get-master-addr-by-name "$sentinel_master" 2>/dev/null | head -n 1)
        echo "sentinel_primary=$(b64 "$primary")"
    fi
    (
        # shellcheck disable=SC1091  # the host's own os-release
        . /etc/os-release 2>/dev/null
        echo "ID=${ID:-}"
        echo "ID_LIKE=${ID_LIKE:-}"
        echo "VERSION_ID=${VERSION_ID:-}"
        echo "NAME=${NAME:-}"
    )
    echo "arch=$(uname -m)"
    echo "postfix=$(command -v postfix || true)"
    awk '/^MemTotal:/ {print "mem_kib=" $2} /^SwapTotal:/ {print "swap_kib=" $2}' /proc/meminfo
    echo "disk_free_kib=$(df -Pk -- "$disk_path" 2>/dev/null | awk 'NR==2 {print $4}')"
    echo "selinux=$(getenforce 2>/dev/null || echo absent)"
    # Dovecot, when there is one: its version, and (2.3) the settings its Junk filing and learning
    # would take, should an admin's own configuration use them already.
    if command -v dovecot >/dev/null; then
        echo "dovecot=$(dovecot --version 2>/dev/null | cut -d' ' -f1)"
        echo "dovecot_sieve_before=$(doveconf -h plugin/sieve_before 2>/dev/null)"
        echo "dovecot_imapsieve_mailbox1=$(doveconf -h plugin/imapsieve_mailbox1_name 2>/dev/null)"
        # 2.3 cannot add to a plugin setting ($sieve_plugins is unknown): ours are merged with these
        echo "dovecot_sieve_plugins=$(doveconf -h plugin/sieve_plugins 2>/dev/null)"
        echo "dovecot_sieve_global_extensions=$(doveconf -h plugin/sieve_global_extensions 2>/dev/null)"
        # 2.3 cannot expand $mail_access_groups in a list: ours is added to the admin's global value
        echo "dovecot_mail_access_groups=$(doveconf -h mail_access_groups 2>/dev/null)"
    fi
}

text_of() {  # text=<path, base64> <content, base64>, for a regular file
    if is_regular "$1"; then
        printf 'text=%s ' "$(b64 "$1")"
        base64 -w0 -- "$1"
        echo
    fi
}

# profile_length ARG...: how many of ARG... the profile takes (its seven values, then four lists,
# each its length and its items)
profile_length() {
    length=7
    shift 7
    for _ in 1 2 3 4; do
        count=$1
        length=$((length + count + 1))
        shift $((count + 1))
    done
    echo "$length"
}

# after N ARG...: the argument that follows the first N of ARG... (empty when there is none)
after() {
    shift "$1"
    shift
    printf '%s' "${1:-}"
}

case ${1:-} in
    profile)
        shift
        taken=$(profile_length "$@")
        if [ "$(after "$taken" "$@")" = state ]; then
            p=$(mktemp) || exit 1
            # The profile in the background beside the state read's own parts: printed in order.
            (with_first "$taken" profile "$@") >"$p" 2>/dev/null &
            shift "$taken"
            shift
            s=$(state "$@")
            wait
            cat "$p"
            rm -f "$p"
            printf '%s\n' "$s"
        else
            with_first "$taken" profile "$@" 2>/dev/null
        fi
        ;;
    state)
        shift
        state "$@"
        ;;
    *)
        echo "usage: read-host.sh [profile ...] [state ...]" >&2
        exit 2
        ;;
esac

#!/bin/sh
# Files root writes where another user may write the directory: never through a link.
#
#   files.sh stage DIR FILE             DIR made root-only, FILE in it empty and 600 (an upload goes there)
#   files.sh copy SOURCE FILE           SOURCE (a host file) copied into FILE, read through a descriptor
#                                       that is the very regular file lstat saw (a link is refused)
#   files.sh place FILE PATH USER:GROUP MODE replace|link|beside
#                                       FILE given its owner and mode, copied beside PATH as a new file
#                                       (PATH.mailguard-new: cp removes whatever has that name and
#                                       creates the file), then renamed over PATH (a link there is
#                                       replaced, never followed), or with "link" linked to PATH: it
#                                       fails rather than replace a file that appeared meanwhile; with
#                                       "beside" left there
#   files.sh metadata PATH USER:GROUP MODE
#                                       owner and mode set through a descriptor opened on PATH, only when
#                                       it is the very file lstat saw (chmod has no form that does not
#                                       follow a link)
set -u

# same_file PATH: the descriptor 3 is the file lstat sees at PATH (a link swapped in meanwhile is not)
seen_as() { stat -c '%F %d:%i' -- "$1"; }
same_file() { [ "$(stat -L -c '%F %d:%i' /proc/self/fd/3)" = "$1" ]; }

case ${1:-} in
    stage)
        umask 077  # every directory made on the way root-only too
        mkdir -p -- "$2" && install -m 600 /dev/null "$3"
        ;;
    copy)
        source=$2 file=$3
        if ! { seen=$(seen_as "$source") && [ "${seen%% *}" = regular ] &&
            { same_file "$seen" && cat <&3 >"$file"; } 3<"$source"; }; then
            echo "mailguard: $source is not a regular file (or changed while read): not copied" >&2
            exit 1
        fi
        ;;
    place)
        file=$2 path=$3 owner=$4 mode=$5 how=$6
        beside=$path.mailguard-new
        chown -- "$owner" "$file" && chmod -- "$mode" "$file" &&
            cp -P --preserve=mode,ownership --remove-destination -- "$file" "$beside" && rm -f -- "$file" ||
            exit 1
        case $how in
            replace) mv -fT -- "$beside" "$path" ;;
            link) ln -- "$beside" "$path" && rm -f -- "$beside" ;;
            beside) ;;
            *) echo "files.sh: place: replace, link or beside, not $how" >&2; exit 2 ;;
        esac
        ;;
    metadata)
        path=$2 owner=$3 mode=$4
        if ! { seen=$(seen_as "$path") &&
            { same_file "$seen" && chown -- "$owner" /proc/self/fd/3 && chmod -- "$mode" /proc/self/fd/3; } 3<"$path"; }; then
            echo "mailguard: $path changed while its owner and mode were being set: left alone" >&2
            exit 1
        fi
        ;;
    *)
        echo "usage: files.sh stage|copy|place|metadata ..." >&2
        exit 2
        ;;
esac

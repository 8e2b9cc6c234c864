#!/bin/sh
# retire.sh KEY RETIRED: a replaced DKIM key moved to the root-only retired keys. A rename: a link is
# moved, never followed; an existing RETIRED is never replaced, and KEY must be gone afterwards.
set -u
mv -nT -- "$1" "$2" && [ ! -e "$1" ] && [ ! -L "$1" ]

#!/bin/sh
# Managed by mailguard: mailguard-primary-here HOST PORT MASTER exits 0 where the sentinel at
# HOST:PORT says the primary MASTER is at HOST itself (this host's Redis), 1 elsewhere. The DMARC
# reports' unit runs it first in a group whose sentinels choose the primary: the reports' data is
# the primary's, and one host sends them.
set -u
primary=$(redis-cli --raw -h "$1" -p "$2" sentinel get-master-addr-by-name "$3" 2>/dev/null | head -n 1)
[ "$primary" = "$1" ]

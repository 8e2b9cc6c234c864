"""Pure logic of the deploy (settings, platform table, hashes, keys, records): no pyinfra here."""

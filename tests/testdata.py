"""Settings and passwords the offline tests share."""

PASSWORDS = {"RSPAMD_CONTROLLER_PASSWORD": "read-only-Pa55word", "RSPAMD_ENABLE_PASSWORD": "enable-Pa55word-x"}
SETTINGS = {"domains": ["example.com"], "server_ipv4": "203.0.113.25", "blacklist_sender_email": ["spam@bad.example.net"]}

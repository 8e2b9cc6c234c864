"""The packaged deploy, for an admin's own pyinfra deploy files::

    from mailguard.deploy import mail_filter

    mail_filter()  # each host's data "mail_settings" = {domains = [...], server_ipv4 = ...}

See operations/mail_filter.py; this module only names it where an admin looks for it.
"""

from operations.mail_filter import mail_filter, steps

__all__ = ["mail_filter", "steps"]

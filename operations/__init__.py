"""pyinfra steps of the deploy: one module per concern, each a @deploy taking settings and platform.

Importing it changes nothing of pyinfra's: the project's own commands switch on their speed-ups
(operations/entry.py).
"""

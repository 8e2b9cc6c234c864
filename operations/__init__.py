"""pyinfra steps of the deploy: one module per concern, each a @deploy taking settings and platform."""

import sys

# pyinfra's CLI turns bytecode writing off for the whole run (meant for the deploy files it execs,
# which never get any): the deploy's own modules were compiled anew on every run, 0.13 s of a no-op
# rerun. Python's own setting again (-B or PYTHONDONTWRITEBYTECODE still turn it off).
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from . import pyinfra_costs  # noqa: E402  (after the setting above, so that it is kept compiled)

pyinfra_costs.install()

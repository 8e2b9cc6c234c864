"""pyinfra steps of the deploy: one module per concern, each a @deploy taking settings and platform."""

from . import pyinfra_costs

pyinfra_costs.install()

"""A deploy file with no operations, run after deploy.py by test_real_mail: what the collector
was left to walk once the deploy's plan was made."""

import gc

print(f"mailguard probe: {gc.get_freeze_count()} objects frozen, {len(gc.get_objects())} not")

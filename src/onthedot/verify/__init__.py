"""Verify: see what the public actually gets (probe), compare it with what was published, diagnose why."""

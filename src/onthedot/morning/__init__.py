"""The release morning: the one orchestrator that publishes a release at T and watches it land.

``publisher`` runs the morning (stage, wait for T, flip, purge, watch, purge again); ``watch`` holds
the sweep schedule (leak probes before T, the sweep at T, dense sweeps until live); ``timer`` waits
for an instant without ever firing early; ``scheduler`` arms a morning for every release that is due
(``onthedot run``). It calls ``verify`` (which only looks and judges), ``record`` (which only
records) and ``publish`` (targets, purgers, staging); none of them calls back.
"""

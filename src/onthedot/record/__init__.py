"""Record and report: the tamper-evident timeline, breaches, the breach report, the register."""

"""Record and report: the tamper-evident timeline, verification results (checks), breaches, the breach report, the register."""

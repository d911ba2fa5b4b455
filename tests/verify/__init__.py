"""Tests of verify: probing, comparing, diagnosing."""

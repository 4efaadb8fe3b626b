"""Outage reports from every channel: validation, de-duplication and the hand-off to trouble-call analysis."""

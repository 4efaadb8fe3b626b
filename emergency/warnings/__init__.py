"""Disaster warnings: their lifecycle, area, preview, CAP 1.2 exchange, outreach to important users and crew
pre-positioning.
"""

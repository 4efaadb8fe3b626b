"""Figures for managers and the regulator: SLA compliance, reliability indices, situation reports, complaints
desk, audit log.
"""

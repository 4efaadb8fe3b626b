"""Dispatching crews against the clocks: SLA clocks, the one priority order, the board, crews, ETRs and the
outage lifecycle.
"""

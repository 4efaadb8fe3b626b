"""IEEE 1366 reliability indices from the outage records dispatchers work on.

The network arithmetic they need (customers below each device) is here too, vectorised.
"""

from __future__ import annotations

import numpy as np


def subtree_totals(parent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each node's own values plus all its descendants', for a forest given by parent rows (-1: root).

    Vectorised: nodes are summed into their parents level by level, deepest first, so the cost is
    the tree's depth in numpy calls, not one Python step per node.
    """
    depth = node_depths(parent)
    totals = np.array(values, dtype=float, copy=True)
    for level in range(int(depth.max(initial=0)), 0, -1):
        at_level = np.flatnonzero(depth == level)
        np.add.at(totals, parent[at_level], totals[at_level])
    return totals


def node_depths(parent: np.ndarray) -> np.ndarray:
    """Steps from each node up to its root (a root is at depth 0)."""
    depth = np.zeros(len(parent), dtype=np.int64)
    current = parent.copy()
    while True:
        up = current >= 0
        if not up.any():
            return depth
        depth += up
        current[up] = parent[current[up]]

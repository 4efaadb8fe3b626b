"""The territory's network: the radial model, trouble-call analysis, map layers, important users and the
import of a utility's own data.
"""

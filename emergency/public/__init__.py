"""What the public and customers get: the public snapshot and site, Check my outage, web reports, feedback
and notifications.
"""

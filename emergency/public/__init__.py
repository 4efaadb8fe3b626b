"""What the public and customers get: the public snapshot and site, Check my outage, web reports, feedback
and notifications.
"""

from emergency.core.actor import Actor

# Whoever uses the public pages and forms without logging in.
PUBLIC = Actor("public", "public")

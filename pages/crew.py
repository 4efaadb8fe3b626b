"""The crew page (`/crew`): a crew leader's own crew's jobs and steps, phone first."""

from __future__ import annotations

from dashboard import crew_page
from dashboard.session import require_role
from emergency.core.models import Role

crew_page.render(require_role(Role.CREW))

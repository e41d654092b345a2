"""user's contracts: its events."""

from __future__ import annotations

import uuid
from typing import ClassVar

from mercato.platform.envelope import EventPayload


class UserUpdated(EventPayload):
    """A customer changed their profile; ``changed`` maps each changed field to its new value."""

    event_type: ClassVar[str] = "user.updated"

    user_id: uuid.UUID
    changed: dict[str, str]

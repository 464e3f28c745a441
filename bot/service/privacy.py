"""Privacy: forget a user everywhere, in one transaction."""

from __future__ import annotations

from bot.service.core import ServiceCore
from bot.service.results import ForgetReport


class Privacy(ServiceCore):
    async def forget(self, user_id: int) -> ForgetReport:
        """Delete the user's likes, party memberships and recommendation history in every
        guild; tracks they shared stay in the catalogs, no longer linked to them."""
        return await self.db.forget_user(user_id)

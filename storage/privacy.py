"""Privacy: ``/forget`` removes everything stored about a user."""

from __future__ import annotations

import logging

from storage.core import DatabaseCore
from storage.records import (
    ForgetReport,
)
from storage.rows import (
    changes,
)

log = logging.getLogger(__name__)

__all__ = ["Privacy"]


class Privacy(DatabaseCore):
    """Forgetting a user, in every guild, in one transaction."""

    async def forget_user(self, user_id: int) -> ForgetReport:
        """Remove everything stored about a user, in every guild, in one transaction: likes,
        party memberships, recommendation history; the tracks they added stay in the catalogs
        (other people like them) with ``added_by`` unlinked, and parties they hosted lose
        their host."""
        async with self._write() as conn:
            likes = await changes(conn, "DELETE FROM likes WHERE user_id = ?", (user_id,))
            members = await changes(conn, "DELETE FROM party_members WHERE user_id = ?", (user_id,))
            recs = await changes(conn, "DELETE FROM recommendations WHERE user_id = ?", (user_id,))
            tracks = await changes(
                conn, "UPDATE tracks SET added_by = NULL WHERE added_by = ?", (user_id,)
            )
            parties = await changes(
                conn, "UPDATE parties SET host_id = NULL WHERE host_id = ?", (user_id,)
            )
        report = ForgetReport(likes, members, recs, tracks, parties)
        log.info("forgot user %s: %s", user_id, report)
        return report

"""idTag authorization per the site config: allow-all, or a list with expiry dates."""

from __future__ import annotations

from datetime import datetime

from controller.config import AuthorizationSection


class Authorizer:
    def __init__(self, section: AuthorizationSection) -> None:
        self._allow_all = section.allow_all
        self._tags = {tag.id_tag: tag for tag in section.id_tags}

    def status(self, id_tag: str, now_utc: datetime) -> str:
        """OCPP 1.6 AuthorizationStatus for ``id_tag`` at ``now_utc``."""
        tag = self._tags.get(id_tag)
        if tag is not None:
            if tag.expires is not None and tag.expires <= now_utc:
                return "Expired"
            return "Accepted"
        return "Accepted" if self._allow_all else "Invalid"

    def id_tag_info(self, id_tag: str, now_utc: datetime) -> dict[str, str]:
        info = {"status": self.status(id_tag, now_utc)}
        tag = self._tags.get(id_tag)
        if tag is not None and tag.expires is not None:
            info["expiry_date"] = tag.expires.isoformat()
        return info

    def group(self, id_tag: str) -> str | None:
        tag = self._tags.get(id_tag)
        return tag.group if tag is not None else None

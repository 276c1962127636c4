"""Who may do what: MLflow-style permissions, decided the same way for every front end.

``READ`` (list, get, metrics, predict) < ``EDIT`` (+ retrain, move aliases) < ``MANAGE`` (+ delete,
grant). A model's owner (the principal that trained its first version) has MANAGE; admins
(``MLSERVICE_ADMINS``, and the embedded default's ``local``) have MANAGE everywhere; anyone else
has what a per-model grant gives them, or else ``MLSERVICE_DEFAULT_PERMISSION`` (READ by default;
``NO_PERMISSIONS`` makes a private workspace). Without READ an object is "not found" (it is not
revealed); with READ but too little for the operation, the answer is "permission denied".

Pure logic: the core's facade (``models.py``) applies it, with the grants from ``grants.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from mlservice.errors import InvalidInput, NotFound, PermissionDenied
from mlservice.identity.principal import LOCAL, Principal


class Permission(IntEnum):
    """What a principal may do with an object; each level includes the ones below."""

    NO_PERMISSIONS = 0
    READ = 1
    EDIT = 2
    MANAGE = 3

    @classmethod
    def parse(cls, text: object) -> Permission:
        """A permission by name (case-insensitive).

        Raises:
            InvalidInput: not one of READ, EDIT, MANAGE, NO_PERMISSIONS.
        """
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise InvalidInput(
                f"permission must be one of {', '.join(p.name for p in cls)}, got {str(text)[:40]!r}"
            ) from None


@dataclass(frozen=True)
class AccessPolicy:
    """The service-wide part of the decision: the default permission and the admins."""

    default: Permission = Permission.READ
    admins: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings) -> AccessPolicy:
        """``MLSERVICE_DEFAULT_PERMISSION`` and ``MLSERVICE_ADMINS`` (comma-separated principal ids)."""
        admins = frozenset(part.strip() for part in settings.admins.split(",") if part.strip())
        return cls(Permission.parse(settings.default_permission), admins)

    def is_admin(self, caller: Principal | None) -> bool:
        """None is the service itself (a job it runs, a test); ``local`` is the embedded default's only user."""
        return caller is None or caller.kind == LOCAL or caller.id in self.admins

    def level(self, caller: Principal | None, owner: str | None, grant: Permission | None = None) -> Permission:
        """What caller may do with an object owned by owner, given caller's grant on it (if any)."""
        if self.is_admin(caller) or (owner and caller.id == owner):
            return Permission.MANAGE
        return grant if grant is not None else self.default

    def require(  # pylint: disable=too-many-arguments
        self,
        caller: Principal | None,
        needed: Permission,
        *,
        owner: str | None,
        grant: Permission | None = None,
        hidden: NotFound,
        action: str,
    ) -> Permission:
        """Caller's level on the object, when it suffices for action.

        Raises:
            NotFound (``hidden``): caller may not even read the object; it is not revealed.
            PermissionDenied: caller may read it but not do this.
        """
        level = self.level(caller, owner, grant)
        if level < Permission.READ:
            raise hidden
        if level < needed:
            raise PermissionDenied(
                f"{caller.login if caller else 'this caller'} may not {action}: it needs {needed.name}, "
                f"and {caller.login if caller else 'the caller'} has {level.name}"
            )
        return level

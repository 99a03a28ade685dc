"""Who may read the JSON views: the setting ``DJANGO_CELERY_RESULTS_VIEWS_ACCESS``.

Its values (``access_rule`` parses them; a bad one raises ``ValueError`` naming the setting):

- ``"public"`` (the default, the old package's behaviour): anyone who knows an id;
- ``"authenticated"``: a logged-in, active user;
- ``"staff"``: an active staff user;
- ``"permission:<app_label>.<codename>"``: a user for whom ``user.has_perm(...)`` is true
  (active superusers have every permission);
- a callable, or the dotted path to one, called as ``rule(request, kind, object_id)`` with
  ``kind`` ``"task"`` or ``"group"``: the request is allowed when it returns exactly ``True``
  (anything else, ``None`` included, denies). It is asked per object: for a group view, about
  the group and then about each member (tasks, and nested groups with their own members).

A denied request is answered ``403`` with JSON ``{"detail": ..., "code": ...}``, never a
redirect to a login page: ``code`` is ``"not_authenticated"`` for an anonymous request and
``"permission_denied"`` for a logged-in user (``detail`` is translated, ``code`` is not, so a
front end can tell them apart). Anonymous requests get 403 rather than 401 because a session
cookie offers no ``WWW-Authenticate`` challenge, which HTTP requires of a 401 (Django REST
framework answers session-authenticated requests the same way).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, Literal

import attrs
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

__all__ = [
    "DEFAULT",
    "DENIALS",
    "SETTING",
    "AccessCheck",
    "AccessRule",
    "ObjectKind",
    "access_rule",
    "current_rule",
    "denial",
    "denied_response",
]

SETTING = "DJANGO_CELERY_RESULTS_VIEWS_ACCESS"
DEFAULT = "public"

ObjectKind = Literal["task", "group"]
#: ``(request, kind, object_id) -> bool``: whether the request may read that task or group.
AccessCheck = Callable[[HttpRequest, ObjectKind, str], object]

_PERMISSION_PREFIX = "permission:"
# An app label is a Python identifier; a codename is anything without blanks (Django's own are
# ``view_taskresult`` and the like, custom ones may hold dots or dashes).
_PERMISSION = re.compile(r"(?P<app_label>[A-Za-z_]\w*)\.(?P<codename>\S+)")


def _user(request: HttpRequest) -> Any:
    # No auth middleware, or a custom user model without these flags: treat as anonymous.
    return getattr(request, "user", None)


def _is_authenticated(request: HttpRequest) -> bool:
    user = _user(request)
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", True))


def _public(request: HttpRequest, kind: ObjectKind, object_id: str) -> bool:
    return True


def _authenticated(request: HttpRequest, kind: ObjectKind, object_id: str) -> bool:
    return _is_authenticated(request)


def _staff(request: HttpRequest, kind: ObjectKind, object_id: str) -> bool:
    return _is_authenticated(request) and bool(getattr(_user(request), "is_staff", False))


def _with_permission(permission: str) -> AccessCheck:
    def check(request: HttpRequest, kind: ObjectKind, object_id: str) -> bool:
        # Django's backends deny every permission to inactive users, and grant all to active
        # superusers; a custom backend may grant some to anonymous users, so ask it anyway.
        has_perm = getattr(_user(request), "has_perm", None)
        return bool(has_perm is not None and has_perm(permission))

    return check


@attrs.frozen
class AccessRule:
    """A parsed value of ``DJANGO_CELERY_RESULTS_VIEWS_ACCESS``."""

    #: The setting's value, as given (for messages).
    value: object
    check: AccessCheck
    #: Whether the answer may differ between objects (a callable), so that each member of a
    #: group is asked about; the fixed rules answer alike for every object.
    per_object: bool = False

    def allows(self, request: HttpRequest, kind: ObjectKind, object_id: str) -> bool:
        """Whether ``request`` may read the task or group ``object_id`` (only ``True`` allows)."""
        return self.check(request, kind, object_id) is True


_NAMED = {"public": _public, "authenticated": _authenticated, "staff": _staff}


def _invalid(value: object, why: str) -> ValueError:
    return ValueError(
        gettext("%(setting)s = %(value)r is not valid: %(why)s")
        % {"setting": SETTING, "value": value, "why": why}
    )


def _choices() -> str:
    return gettext(
        'use "public", "authenticated", "staff", "permission:<app_label>.<codename>", '
        "a callable (request, kind, object_id) -> bool, or the dotted path to one"
    )


def _callable_rule(value: object, check: object) -> AccessRule:
    if not callable(check):
        raise _invalid(value, gettext("%(check)r is not callable") % {"check": check})
    try:
        signature = inspect.signature(check)
    except (TypeError, ValueError):  # some builtins have no signature to inspect
        return AccessRule(value, check, per_object=True)
    try:
        signature.bind(None, "task", "")
    except TypeError:
        why = gettext(
            "%(check)r cannot be called as (request, kind, object_id); its signature is "
            "%(signature)s"
        ) % {"check": check, "signature": signature}
        raise _invalid(value, why) from None
    return AccessRule(value, check, per_object=True)


def _from_text(value: str) -> AccessRule:
    if value in _NAMED:
        return AccessRule(value, _NAMED[value])
    if value.startswith(_PERMISSION_PREFIX):
        permission = value[len(_PERMISSION_PREFIX) :]
        if not _PERMISSION.fullmatch(permission):
            why = gettext('the permission must read "<app_label>.<codename>", got %(got)r')
            raise _invalid(value, why % {"got": permission})
        return AccessRule(value, _with_permission(permission))
    if "." not in value or not all(part.isidentifier() for part in value.split(".")):
        raise _invalid(value, _choices())
    try:
        check = import_string(value)
    except ImportError as exc:
        why = gettext("cannot import %(path)r: %(error)s") % {"path": value, "error": exc}
        raise _invalid(value, why) from exc
    return _callable_rule(value, check)


def access_rule(value: object) -> AccessRule:
    """Parse a value of ``DJANGO_CELERY_RESULTS_VIEWS_ACCESS``; ``ValueError`` if it is invalid.

    A dotted path is imported here, so that a wrong one is reported by the system checks.
    """
    if isinstance(value, str):
        return _from_text(value)
    if callable(value):
        return _callable_rule(value, value)
    raise _invalid(value, _choices())


def current_rule() -> AccessRule:
    """The rule the setting names now (read per request, so ``override_settings`` applies)."""
    return access_rule(getattr(settings, SETTING, DEFAULT))


#: The ``detail`` of a denial, by its ``code``.
DENIALS = {
    "not_authenticated": _("Log in to read task results."),
    "permission_denied": _("You do not have permission to read this result."),
}


def denial(request: HttpRequest) -> dict[str, str]:
    """The body of a denial: ``detail`` (translated) and ``code`` (for programs)."""
    user = _user(request)
    code = "permission_denied" if getattr(user, "is_authenticated", False) else "not_authenticated"
    return {"detail": str(DENIALS[code]), "code": code}


def denied_response(request: HttpRequest) -> JsonResponse:
    """A JSON 403 for a request the rule does not allow (never a redirect to a login page)."""
    return JsonResponse(denial(request), status=403)

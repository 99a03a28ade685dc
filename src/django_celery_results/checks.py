"""System checks: ``manage.py check`` reports this package's invalid settings (issue 14).

Each setting is checked by the very function that reads it at run time where there is one
(``configured_repositories``, ``expiry_batch_setting``, ``chord_recovery_grace`` ...), so the
check and the run time cannot disagree: what would raise at the first task or at the daily
cleanup is an ``Error`` here. Warnings name the combinations known to lose results, such as the
``django-cache`` backend on a cache that lives in one process.

``check_settings`` needs no database and runs with every ``check``; ``check_cache_table``
looks for a database cache's table, so it is tagged ``database`` and runs only when Django
passes ``databases`` (``manage.py check --database default``). ``apps.ready()`` registers
both. The ids, what triggers each and the fix are listed in the README.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .adapters.django_orm.expiry import EXPIRY_BATCH_SETTING, expiry_batch_setting
from .backend_checks import (
    APP_LABEL,
    check_cache_table,
    composition_checks,
    error,
    is_set,
    ours,
    parsed,
    per_process_cache_checks,
    warning,
)
from .celery_bridge.cache_values import TEXT_SETTING, values_as_text
from .celery_bridge.composition import KEYVALUE_SETTING, SETTING
from .celery_bridge.recovery import GRACE_SETTING, chord_recovery_grace

__all__ = ["KNOWN_SETTINGS", "check_cache_table", "check_settings", "register_checks"]

ID_LENGTH_SETTING = "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH"
RETENTION_SETTING = "DJANGO_CELERY_RESULTS_RETENTION"
VIEWS_ACCESS_SETTING = "DJANGO_CELERY_RESULTS_VIEWS_ACCESS"
OPTIONS_SETTING = "DJANGO_CELERY_RESULTS"
#: Booleans read by truth value at run time: "False" (a string) would mean True there.
BOOLEAN_SETTINGS = (
    "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS",
    "DJANGO_CELERY_RESULTS_ID_FIRST_URLS",
)
#: The keys of the old package's ``DJANGO_CELERY_RESULTS`` dict that this package reads.
OPTION_KEYS = ("ALLOW_EDITS",)
#: Every ``DJANGO_CELERY_RESULTS_*`` setting the package reads; another name is a typo (W006).
KNOWN_SETTINGS = frozenset(
    {
        SETTING,
        KEYVALUE_SETTING,
        EXPIRY_BATCH_SETTING,
        GRACE_SETTING,
        ID_LENGTH_SETTING,
        TEXT_SETTING,
        RETENTION_SETTING,
        VIEWS_ACCESS_SETTING,
        *BOOLEAN_SETTINGS,
    }
)
#: Celery's task ids are UUIDs: 36 characters.
CELERY_ID_LENGTH = 36
#: The lazily imported parsers of the settings other parts of issue 14 add:
#: (setting, module, attribute path, check id).
_LAZY_PARSERS = (
    (RETENTION_SETTING, f"{APP_LABEL}.domain.retention", "RetentionPolicy.from_setting", "E009"),
    (VIEWS_ACCESS_SETTING, f"{APP_LABEL}.celery_bridge.views_access", "access_rule", "E010"),
)
#: Their hints, by check id (translated when the check runs).
_LAZY_HINTS = {
    "E009": gettext_lazy(
        'Give %(setting)s a dict of state name (or "default", or "tasks": task name -> the '
        'same dict) -> how long to keep: seconds, a timedelta, "<n><s|m|h|d|w>", or None to '
        "keep for ever."
    ),
    "E010": gettext_lazy(
        'Set %(setting)s to "public", "authenticated", "staff", '
        '"permission:<app_label>.<codename>", or a callable (request, kind, object_id) -> '
        "bool or the dotted path to one."
    ),
}


def _id_length() -> list[CheckMessage]:
    """E006 / W004: the width of the id columns."""
    if not is_set(ID_LENGTH_SETTING):
        return []
    value = getattr(settings, ID_LENGTH_SETTING)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [
            error(
                "E006",
                _("%(setting)s must be a whole number of characters >= 1, got %(value)r.")
                % {"setting": ID_LENGTH_SETTING, "value": value},
                _(
                    "Remove it (255, the default) or set 191 for MySQL/MariaDB with an old "
                    "utf8mb4 set-up; the migrations read it, so set it before migrating."
                ),
            )
        ]
    if value < CELERY_ID_LENGTH:
        return [
            warning(
                "W004",
                _(
                    "%(setting)s = %(value)r is shorter than Celery's task ids (UUIDs, "
                    "%(limit)d characters): their results cannot be stored."
                )
                % {"setting": ID_LENGTH_SETTING, "value": value, "limit": CELERY_ID_LENGTH},
                _("Set it to %(limit)d or more (255, the default, or 191 on old MySQL).")
                % {"limit": CELERY_ID_LENGTH},
            )
        ]
    return []


def _boolean_hint(setting: str) -> str:
    return _("Set %(setting)s to True or False (a bool, not a string or a number).") % {
        "setting": setting
    }


def _booleans() -> list[CheckMessage]:
    """E007: the switches, each True or False."""
    found = parsed("E007", values_as_text, _boolean_hint(TEXT_SETTING))
    for setting in BOOLEAN_SETTINGS:
        value = getattr(settings, setting, False)
        if not isinstance(value, bool):
            found.append(
                error(
                    "E007",
                    _("%(setting)s must be True or False, got %(value)r.")
                    % {"setting": setting, "value": value},
                    _boolean_hint(setting),
                )
            )
    return found


def _options() -> list[CheckMessage]:
    """E008 / E007 / W005: the old package's ``DJANGO_CELERY_RESULTS`` dict."""
    options = getattr(settings, OPTIONS_SETTING, None)
    if options is None:
        return []
    if not isinstance(options, dict):
        return [
            error(
                "E008",
                _("%(setting)s must be a dict, got %(value)r.")
                % {"setting": OPTIONS_SETTING, "value": options},
                _('Set %(setting)s = {"ALLOW_EDITS": True} (or False), or remove it.')
                % {"setting": OPTIONS_SETTING},
            )
        ]
    found: list[CheckMessage] = []
    if not isinstance(options.get("ALLOW_EDITS", False), bool):
        setting = f'{OPTIONS_SETTING}["ALLOW_EDITS"]'
        found.append(
            error(
                "E007",
                _("%(setting)s must be True or False, got %(value)r.")
                % {"setting": setting, "value": options["ALLOW_EDITS"]},
                _boolean_hint(setting),
            )
        )
    found.extend(
        warning(
            "W005",
            _("%(setting)s has the key %(key)r, which this package does not read.")
            % {"setting": OPTIONS_SETTING, "key": key},
            _("Its keys are: %(keys)s; remove or rename the others.")
            % {"keys": ", ".join(OPTION_KEYS)},
        )
        for key in sorted(set(options) - set(OPTION_KEYS), key=repr)
    )
    return found


def _unknown_settings() -> list[CheckMessage]:
    """W006: a ``DJANGO_CELERY_RESULTS_*`` setting this package does not read (a typo?)."""
    found: list[CheckMessage] = []
    for name in sorted(dir(settings)):
        if not name.startswith(f"{OPTIONS_SETTING}_") or name in KNOWN_SETTINGS:
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_SETTINGS), n=1)
        hint = (
            _("Did you mean %(name)s?") % {"name": close[0]}
            if close
            else _("Remove it; the settings this package reads are listed in its README.")
        )
        found.append(
            warning(
                "W006",
                _("%(setting)s is not a setting of django_celery_results.") % {"setting": name},
                hint,
            )
        )
    return found


def _lazy_parsers() -> list[CheckMessage]:
    """E009 / E010: settings whose parsers live in modules other parts of issue 14 add."""
    found: list[CheckMessage] = []
    for setting, module_name, path, code in _LAZY_PARSERS:
        if not is_set(setting):
            continue
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that part is not installed yet: nothing reads the setting either
        for attribute in path.split("."):
            target = getattr(target, attribute)
        value = getattr(settings, setting)
        try:
            target(value)
        except (ValueError, TypeError) as exc:
            # The parsers' messages name the setting and the value; say both if one did not.
            reason = str(exc)
            if setting not in reason:
                reason = _("%(setting)s = %(value)r is invalid: %(error)s") % {
                    "setting": setting,
                    "value": value,
                    "error": reason,
                }
            found.append(error(code, reason, str(_LAZY_HINTS[code]) % {"setting": setting}))
    return found


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every setting of this package, checked as the run time reads it (no database)."""
    if not ours(app_configs):
        return []
    found = composition_checks()
    found += per_process_cache_checks()
    found += parsed(
        "E004",
        expiry_batch_setting,
        _("Set %(setting)s to a whole number of rows such as 10000, or remove it (None).")
        % {"setting": EXPIRY_BATCH_SETTING},
    )
    found += parsed(
        "E005",
        chord_recovery_grace,
        _("Set %(setting)s to seconds (for example 300) or a datetime.timedelta, >= 0.")
        % {"setting": GRACE_SETTING},
    )
    found += _id_length()
    found += _booleans()
    found += _options()
    found += _lazy_parsers()
    found += _unknown_settings()
    return found


def register_checks() -> None:
    """Register the checks (``apps.ready()``); registering twice is harmless."""
    register(check_settings)
    register(check_cache_table, Tags.database)

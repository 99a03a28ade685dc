"""System checks (issue 14): every id has a case that triggers it and one that does not.

Each trigger asserts the id, a message naming the setting and the bad value (or the limit),
and the hint; each valid case asserts that no message of ours comes out. The checks run
through Django's registry (``run_checks``), as ``manage.py check`` runs them.
"""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.checks import CheckMessage, Error, Tags, run_checks
from django.core.checks import Warning as CheckWarning
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings
from django.utils import translation

from django_celery_results.backends import CacheBackend
from django_celery_results.checks import check_cache_table, check_settings

PREFIX = "django_celery_results."
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
DUMMY = "django.core.cache.backends.dummy.DummyCache"
FILEBASED = "django.core.cache.backends.filebased.FileBasedCache"
RETENTION = "DJANGO_CELERY_RESULTS_RETENTION"
VIEWS_ACCESS = "DJANGO_CELERY_RESULTS_VIEWS_ACCESS"
RETENTION_MODULE = "django_celery_results.domain.retention"
VIEWS_ACCESS_MODULE = "django_celery_results.celery_bridge.views_access"
#: django-cache on a cache every process shares (the test project's file cache, sized).
ON_A_SHARED_CACHE = {"CELERY_RESULT_BACKEND": "django-cache", "CELERY_CACHE_BACKEND": "filebased"}


def _ours_only(found: list[CheckMessage]) -> list[CheckMessage]:
    return [message for message in found if str(message.id).startswith(PREFIX)]


def ours(**overrides: Any) -> list[CheckMessage]:
    """This package's messages from the checks ``manage.py check`` runs, under ``overrides``."""
    with override_settings(**overrides):
        return _ours_only(run_checks())


def ours_on(databases: list[str], **overrides: Any) -> list[CheckMessage]:
    """This package's messages from the ``database`` checks (``check --database``)."""
    with override_settings(**overrides):
        return _ours_only(run_checks(databases=databases, tags=[Tags.database]))


def only(code: str, **overrides: Any) -> CheckMessage:
    """The one message of ours under ``overrides``, which must have id ``code``."""
    found = ours(**overrides)
    assert [message.id for message in found] == [PREFIX + code], found
    return found[0]


def assert_names(message: CheckMessage, *parts: str, hint: str) -> None:
    """The message names each of ``parts`` and its hint says ``hint``."""
    for part in parts:
        assert part in message.msg, (part, message.msg)
    assert message.hint is not None
    assert hint in message.hint, (hint, message.hint)


# -- registration and the project's own settings ---------------------------------------------


def test_the_checks_are_registered_by_the_app() -> None:
    """apps.ready() registers both checks; the database one carries the ``database`` tag."""
    assert apps.get_app_config("django_celery_results") is not None
    registered: set[object] = set(registry.registered_checks)
    assert check_settings in registered
    assert check_cache_table in registered
    assert Tags.database in getattr(check_cache_table, "tags", ())
    assert Tags.database not in getattr(check_settings, "tags", ())


@pytest.mark.django_db(databases="__all__")
def test_the_test_projects_settings_give_no_message() -> None:
    """The test project's settings, with and without its databases, produce nothing of ours."""
    assert ours() == []
    assert ours_on(["default"]) == []


def test_manage_py_check_fails_on_an_error_and_names_it() -> None:
    """``manage.py check`` stops on an error of ours and prints the id, message and hint."""
    with (
        override_settings(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=0),
        pytest.raises(SystemCheckError) as raised,
    ):
        call_command("check", stdout=StringIO(), stderr=StringIO())
    text = str(raised.value)
    assert "django_celery_results.E004" in text
    assert "DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE" in text
    assert "HINT" in text


def test_manage_py_check_passes_with_a_warning() -> None:
    """A warning is printed and does not fail ``manage.py check``."""
    out = StringIO()
    with override_settings(CELERY_RESULT_BACKEND="django-cache", CELERY_CACHE_BACKEND="locmem"):
        call_command("check", stdout=out, stderr=out)
    assert "django_celery_results.W001" in out.getvalue()


def test_messages_and_hints_are_translated() -> None:
    """Under another language the message and the hint are that language's (es ships)."""
    english = only("E007", DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS="no")
    with translation.override("es"):
        spanish = only("E007", DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS="no")
    assert spanish.msg != english.msg
    assert spanish.hint != english.hint
    assert_names(spanish, "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS", "'no'", hint="True")


def test_another_apps_checks_leave_ours_out() -> None:
    """``manage.py check otherapp`` does not report this package's settings."""
    config = apps.get_app_config("contenttypes")
    with override_settings(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=0):
        found = run_checks(app_configs=[config])
    assert [m for m in found if str(m.id).startswith(PREFIX)] == []


# -- E001 / W003: DJANGO_CELERY_RESULTS_REPOSITORIES -----------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("no_such_module.factory", "'no_such_module.factory'"),
        ("", "''"),
        (42, "42"),
        ("builtins.dict", "returned dict, expected Repositories"),
    ],
)
def test_e001_unknown_repositories(value: object, says: str) -> None:
    """An unknown name, a non-string, or a callable returning no Repositories is E001."""
    message = only("E001", DJANGO_CELERY_RESULTS_REPOSITORIES=value)
    assert isinstance(message, Error)
    assert_names(message, "DJANGO_CELERY_RESULTS_REPOSITORIES", says, hint='"orm"')


@pytest.mark.parametrize(
    "value", ["orm", "django_celery_results.celery_bridge.composition.orm_repositories"]
)
def test_e001_valid_repositories(value: str) -> None:
    """The named choice and a dotted path to a real factory pass."""
    assert ours(DJANGO_CELERY_RESULTS_REPOSITORIES=value) == []


def test_w003_memory_repositories_with_django_db() -> None:
    """``"memory"`` repositories under django-db keep results per process: W003."""
    message = only("W003", DJANGO_CELERY_RESULTS_REPOSITORIES="memory")
    assert isinstance(message, CheckWarning)
    assert_names(message, "DJANGO_CELERY_RESULTS_REPOSITORIES", '"memory"', hint="SILENCED")


def test_w003_not_for_memory_repositories_under_django_cache() -> None:
    """django-cache never reads the repositories setting: no W003."""
    assert ours(DJANGO_CELERY_RESULTS_REPOSITORIES="memory", **ON_A_SHARED_CACHE) == []


# -- E002 / W002: DJANGO_CELERY_RESULTS_KEYVALUE_STORE ---------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [("no_such_module.store", "'no_such_module.store'"), (3, "3"), ("builtins.str", "lacks")],
)
def test_e002_unknown_keyvalue_store(value: object, says: str) -> None:
    """An unknown name, a non-string, or a callable returning no KeyValueStore is E002."""
    message = only("E002", DJANGO_CELERY_RESULTS_KEYVALUE_STORE=value)
    assert isinstance(message, Error)
    assert_names(message, "DJANGO_CELERY_RESULTS_KEYVALUE_STORE", says, hint='"cache"')


@pytest.mark.parametrize(
    "value",
    ["cache", "memory", "django_celery_results.celery_bridge.composition.memory_keyvalue_store"],
)
def test_e002_valid_keyvalue_store(value: str) -> None:
    """The named choices and a dotted path to a real factory pass (under django-db)."""
    assert ours(DJANGO_CELERY_RESULTS_KEYVALUE_STORE=value) == []


def test_w002_memory_keyvalue_store_with_django_cache() -> None:
    """A ``"memory"`` store under django-cache keeps results per process: W002."""
    message = only(
        "W002",
        DJANGO_CELERY_RESULTS_KEYVALUE_STORE="memory",
        CELERY_RESULT_BACKEND="django-cache",
    )
    assert isinstance(message, CheckWarning)
    assert_names(message, "DJANGO_CELERY_RESULTS_KEYVALUE_STORE", '"memory"', hint="SILENCED")


def test_w002_not_for_the_cache_store() -> None:
    """The default store on a shared cache passes."""
    assert ours(DJANGO_CELERY_RESULTS_KEYVALUE_STORE="cache", **ON_A_SHARED_CACHE) == []


# -- E003: CELERY_CACHE_BACKEND --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["django-cache", None])
def test_e003_cache_alias_missing_from_caches(backend: str | None) -> None:
    """An alias that CACHES lacks is E003 under django-cache, or when no backend is set."""
    message = only("E003", CELERY_RESULT_BACKEND=backend, CELERY_CACHE_BACKEND="no-such-cache")
    assert isinstance(message, Error)
    assert_names(message, "CELERY_CACHE_BACKEND", "'no-such-cache'", hint="'filebased'")


@pytest.mark.parametrize(
    "overrides",
    [
        ON_A_SHARED_CACHE,
        # Celery's own cache backend reads the same setting, as a URL or "memory".
        {"CELERY_RESULT_BACKEND": "cache+memcached://127.0.0.1/", "CELERY_CACHE_BACKEND": "x"},
        {"CELERY_RESULT_BACKEND": None, "CELERY_CACHE_BACKEND": "memcached://127.0.0.1/"},
    ],
)
def test_e003_valid_cache_alias_or_not_ours(overrides: dict[str, Any]) -> None:
    """A configured alias passes, and so does the setting when another backend reads it."""
    assert ours(**overrides) == []


# -- E004: DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE -------------------------------------------


@pytest.mark.parametrize("value", [0, -5, "1000", 2.5, True])
def test_e004_expiry_batch_size_below_one_or_no_int(value: object) -> None:
    """A batch size that is no whole number >= 1 is E004 (it failed at the daily cleanup)."""
    message = only("E004", DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=value)
    assert isinstance(message, Error)
    assert_names(
        message, "DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE", repr(value), ">= 1", hint="10000"
    )


@pytest.mark.parametrize("value", [1, 10_000, None])
def test_e004_valid_expiry_batch_size(value: int | None) -> None:
    """A positive whole number, or None, passes."""
    assert ours(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=value) == []


# -- E005: DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE ----------------------------------------


@pytest.mark.parametrize("value", ["300", True, -1, timedelta(seconds=-1)])
def test_e005_chord_recovery_grace_wrong_type_or_negative(value: object) -> None:
    """A grace period that is no number of seconds or timedelta >= 0 is E005."""
    message = only("E005", DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=value)
    assert isinstance(message, Error)
    assert_names(
        message, "DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE", repr(value), hint="timedelta"
    )


@pytest.mark.parametrize("value", [0, 300, 2.5, timedelta(minutes=10), None])
def test_e005_valid_chord_recovery_grace(value: object) -> None:
    """Seconds, a timedelta, or None pass."""
    assert ours(DJANGO_CELERY_RESULTS_CHORD_RECOVERY_GRACE=value) == []


# -- E006 / W004: DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH -----------------------------------


@pytest.mark.parametrize("value", [0, "255", True, 100.0])
def test_e006_task_id_max_length_not_a_positive_int(value: object) -> None:
    """An id width that is no whole number >= 1 is E006."""
    message = only("E006", DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH=value)
    assert isinstance(message, Error)
    assert_names(
        message, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", repr(value), ">= 1", hint="191"
    )


def test_w004_task_id_max_length_below_a_uuid() -> None:
    """A width below 36 cannot hold Celery's task ids: W004 names the limit."""
    message = only("W004", DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH=20)
    assert isinstance(message, CheckWarning)
    assert_names(message, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", "20", "36", hint="36")


@pytest.mark.parametrize("value", [36, 191, 255])
def test_e006_w004_valid_task_id_max_length(value: int) -> None:
    """36 and more pass."""
    assert ours(DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH=value) == []


# -- E007: booleans --------------------------------------------------------------------------

BOOLEANS = [
    "DJANGO_CELERY_RESULTS_CACHE_USE_RESULT_SERIALIZER",
    "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS",
    "DJANGO_CELERY_RESULTS_ID_FIRST_URLS",
]


@pytest.mark.parametrize("setting", BOOLEANS)
@pytest.mark.parametrize("value", ["False", 1, None])
def test_e007_boolean_that_is_no_bool(setting: str, value: object) -> None:
    """A switch set to a string, a number or None is E007 (``"False"`` would read as True)."""
    message = only("E007", **{setting: value})
    assert isinstance(message, Error)
    assert_names(message, setting, repr(value), hint="True or False")


@pytest.mark.parametrize("setting", BOOLEANS)
@pytest.mark.parametrize("value", [True, False])
def test_e007_valid_booleans(setting: str, value: bool) -> None:
    """True and False pass."""
    assert ours(**{setting: value}) == []


def test_e007_allow_edits_that_is_no_bool() -> None:
    """``DJANGO_CELERY_RESULTS["ALLOW_EDITS"]`` must be a bool too."""
    message = only("E007", DJANGO_CELERY_RESULTS={"ALLOW_EDITS": "no"})
    assert_names(message, 'DJANGO_CELERY_RESULTS["ALLOW_EDITS"]', "'no'", hint="True or False")


# -- E008 / W005: the old package's DJANGO_CELERY_RESULTS dict -------------------------------


@pytest.mark.parametrize("value", [["ALLOW_EDITS"], True, "ALLOW_EDITS"])
def test_e008_options_not_a_dict(value: object) -> None:
    """``DJANGO_CELERY_RESULTS`` that is no dict is E008."""
    message = only("E008", DJANGO_CELERY_RESULTS=value)
    assert isinstance(message, Error)
    assert_names(message, "DJANGO_CELERY_RESULTS", repr(value), hint="ALLOW_EDITS")


def test_w005_options_unknown_key() -> None:
    """A key the package does not read (a typo of ALLOW_EDITS) is W005."""
    message = only("W005", DJANGO_CELERY_RESULTS={"ALLOW_EDIT": True})
    assert isinstance(message, CheckWarning)
    assert_names(message, "DJANGO_CELERY_RESULTS", "'ALLOW_EDIT'", hint="ALLOW_EDITS")


@pytest.mark.parametrize("value", [{"ALLOW_EDITS": True}, {"ALLOW_EDITS": False}, {}, None])
def test_e008_w005_valid_options(value: object) -> None:
    """A dict with ALLOW_EDITS (or nothing) passes."""
    assert ours(DJANGO_CELERY_RESULTS=value) == []


# -- E009 / E010: the settings parsed by the retention and views-access modules --------------


def _fake_parser_module(
    monkeypatch: pytest.MonkeyPatch, module: str, attribute: str
) -> types.ModuleType:
    """Stand in for a parser module: its parser refuses ``"bad"`` with a ValueError."""

    def parse(value: object) -> object:
        if value == "bad":
            raise ValueError(f"the value {value!r} is no rule (limit: 3 keys)")
        return value

    fake = types.ModuleType(module)
    if attribute == "RetentionPolicy.from_setting":
        fake.__dict__["RetentionPolicy"] = types.SimpleNamespace(from_setting=parse)
    else:
        setattr(fake, attribute, parse)
    monkeypatch.setitem(sys.modules, module, fake)
    return fake


LAZY = [
    ("E009", "DJANGO_CELERY_RESULTS_RETENTION", RETENTION_MODULE, "RetentionPolicy.from_setting"),
    ("E010", "DJANGO_CELERY_RESULTS_VIEWS_ACCESS", VIEWS_ACCESS_MODULE, "access_rule"),
]


@pytest.mark.parametrize(("code", "setting", "module", "attribute"), LAZY)
def test_e009_e010_parser_refuses_the_setting(
    monkeypatch: pytest.MonkeyPatch, code: str, setting: str, module: str, attribute: str
) -> None:
    """What the module's parser refuses is an error with the parser's reason."""
    _fake_parser_module(monkeypatch, module, attribute)
    message = only(code, **{setting: "bad"})
    assert isinstance(message, Error)
    assert_names(message, setting, "'bad'", "limit: 3 keys", hint=setting)


@pytest.mark.parametrize(("code", "setting", "module", "attribute"), LAZY)
def test_e009_e010_parser_accepts_the_setting(
    monkeypatch: pytest.MonkeyPatch, code: str, setting: str, module: str, attribute: str
) -> None:
    """What the parser accepts passes."""
    _fake_parser_module(monkeypatch, module, attribute)
    assert ours(**{setting: "good"}) == []


@pytest.mark.parametrize(
    ("code", "setting", "module", "value", "says", "hint"),
    [
        ("E009", "DJANGO_CELERY_RESULTS_RETENTION", RETENTION_MODULE, ["1d"], "list", "timedelta"),
        (
            "E009",
            "DJANGO_CELERY_RESULTS_RETENTION",
            RETENTION_MODULE,
            {"SUCCESS": "forever"},
            "'forever'",
            "timedelta",
        ),
        (
            "E010",
            "DJANGO_CELERY_RESULTS_VIEWS_ACCESS",
            VIEWS_ACCESS_MODULE,
            "admins",
            "'admins'",
            "staff",
        ),
        ("E010", "DJANGO_CELERY_RESULTS_VIEWS_ACCESS", VIEWS_ACCESS_MODULE, 7, "7", "staff"),
    ],
)
def test_e009_e010_real_parser_refuses(
    code: str, setting: str, module: str, value: object, says: str, hint: str
) -> None:
    """The real retention and views-access parsers' refusals are E009 and E010."""
    pytest.importorskip(module, reason=f"{module} is not written yet")
    message = only(code, **{setting: value})
    assert isinstance(message, Error)
    assert_names(message, setting, says, hint=hint)


@pytest.mark.parametrize(
    ("setting", "module", "value"),
    [
        ("DJANGO_CELERY_RESULTS_RETENTION", RETENTION_MODULE, None),
        (
            "DJANGO_CELERY_RESULTS_RETENTION",
            RETENTION_MODULE,
            {"SUCCESS": timedelta(days=1), "FAILURE": "30d", "tasks": {"t": {"default": 60}}},
        ),
        ("DJANGO_CELERY_RESULTS_VIEWS_ACCESS", VIEWS_ACCESS_MODULE, "public"),
        ("DJANGO_CELERY_RESULTS_VIEWS_ACCESS", VIEWS_ACCESS_MODULE, "staff"),
        (
            "DJANGO_CELERY_RESULTS_VIEWS_ACCESS",
            VIEWS_ACCESS_MODULE,
            "permission:django_celery_results.view_taskresult",
        ),
    ],
)
def test_e009_e010_real_parser_accepts(setting: str, module: str, value: object) -> None:
    """What the real parsers accept passes."""
    pytest.importorskip(module, reason=f"{module} is not written yet")
    assert ours(**{setting: value}) == []


def test_e009_e010_skipped_while_the_parser_module_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the parser's module (an older install of this part), the setting is not checked."""
    monkeypatch.setitem(sys.modules, RETENTION_MODULE, None)  # import raises ModuleNotFoundError
    assert ours(DJANGO_CELERY_RESULTS_RETENTION="bad") == []


# -- W001 / E011: django-cache on a per-process cache ----------------------------------------

CACHE_BACKEND_SPELLINGS: list[object] = [
    CacheBackend,
    "django-cache",
    "django-cache://",
    "django_celery_results.backends:CacheBackend",
    "django_celery_results.backends.cache.CacheBackend",
]


@pytest.mark.parametrize("backend", CACHE_BACKEND_SPELLINGS)
def test_w001_django_cache_on_locmem(backend: object) -> None:
    """django-cache on a LocMemCache (under any spelling of the backend) is W001."""
    message = only("W001", CELERY_RESULT_BACKEND=backend, CELERY_CACHE_BACKEND="locmem")
    assert isinstance(message, CheckWarning)
    assert_names(message, "'locmem'", LOCMEM, hint="CELERY_CACHE_BACKEND")


@pytest.mark.parametrize(
    "overrides",
    [
        ON_A_SHARED_CACHE,
        {"CELERY_RESULT_BACKEND": "django-db", "CELERY_CACHE_BACKEND": "locmem"},
        {"CELERY_RESULT_BACKEND": None, "CELERY_CACHE_BACKEND": "locmem"},
        {"CELERY_RESULT_BACKEND": "redis://127.0.0.1/0", "CELERY_CACHE_BACKEND": "locmem"},
        {"CELERY_RESULT_BACKEND": "celery.backends.redis:RedisBackend"},
        {"CELERY_RESULT_BACKEND": "no_such_module:Backend", "CELERY_CACHE_BACKEND": "locmem"},
    ],
)
def test_w001_not_on_a_shared_cache_or_another_backend(overrides: dict[str, Any]) -> None:
    """A shared cache passes, and a locmem cache does not matter to django-db."""
    assert ours(**overrides) == []


def test_e011_django_cache_on_dummy_cache() -> None:
    """django-cache on a DummyCache stores nothing: E011."""
    caches = {"default": {"BACKEND": DUMMY}}
    message = only("E011", CELERY_RESULT_BACKEND="django-cache", CACHES=caches)
    assert isinstance(message, Error)
    assert_names(message, "'default'", DUMMY, hint="django-db")


def test_e011_not_when_a_memory_store_replaces_the_cache() -> None:
    """With another key-value store the Django cache is not used: no E011 (but W002)."""
    found = ours(
        CELERY_RESULT_BACKEND="django-cache",
        CACHES={"default": {"BACKEND": DUMMY}},
        DJANGO_CELERY_RESULTS_KEYVALUE_STORE="memory",
    )
    assert [message.id for message in found] == [PREFIX + "W002"]


# -- W007: a cache that culls itself at Django's default size -------------------------------


@pytest.mark.parametrize("backend", [FILEBASED, "django.core.cache.backends.db.DatabaseCache"])
def test_w007_culling_cache_without_max_entries(backend: str) -> None:
    """A file or database cache at Django's default 300 entries evicts results: W007."""
    caches = {"default": {"BACKEND": LOCMEM}, "results": {"BACKEND": backend, "LOCATION": "x"}}
    message = only(
        "W007", CELERY_RESULT_BACKEND="django-cache", CELERY_CACHE_BACKEND="results", CACHES=caches
    )
    assert isinstance(message, CheckWarning)
    assert_names(message, "'results'", backend, "MAX_ENTRIES", "300", hint='"MAX_ENTRIES"')


@pytest.mark.parametrize(
    "results",
    [
        {"BACKEND": FILEBASED, "LOCATION": "x", "OPTIONS": {"MAX_ENTRIES": 50_000}},
        {"BACKEND": FILEBASED, "LOCATION": "x", "max_entries": 50_000},
    ],
)
def test_w007_culling_cache_sized(results: dict[str, Any]) -> None:
    """A MAX_ENTRIES chosen by the project passes."""
    caches = {"default": {"BACKEND": LOCMEM}, "results": results}
    assert (
        ours(CELERY_RESULT_BACKEND="django-cache", CELERY_CACHE_BACKEND="results", CACHES=caches)
        == []
    )


# -- E012: a database cache whose table does not exist ---------------------------------------

#: A sized database cache whose table no test database has.
TABLELESS_CACHES = {
    "default": {"BACKEND": LOCMEM},
    "results": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "dcr_x",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    },
}


@pytest.mark.django_db
def test_e012_database_cache_without_its_table() -> None:
    """A database cache whose table is missing is E012, with ``databases`` only."""
    settings = {"CELERY_RESULT_BACKEND": "django-cache", "CELERY_CACHE_BACKEND": "results"}
    found = ours_on(["default"], CACHES=TABLELESS_CACHES, **settings)
    assert [message.id for message in found] == [PREFIX + "E012"]
    assert_names(found[0], "'results'", "'dcr_x'", "'default'", hint="createcachetable")
    assert ours(CACHES=TABLELESS_CACHES, **settings) == []  # without databases: not run


@pytest.mark.django_db
def test_e012_database_cache_with_its_table() -> None:
    """The test database has the database cache's table (createcachetable ran): no E012."""
    settings = {"CELERY_RESULT_BACKEND": "django-cache", "CELERY_CACHE_BACKEND": "database"}
    assert ours_on(["default"], **settings) == []


@pytest.mark.django_db
def test_e012_through_manage_py_check_database() -> None:
    """``manage.py check --database default`` runs the table check and fails on E012."""
    with (
        override_settings(
            CELERY_RESULT_BACKEND="django-cache",
            CELERY_CACHE_BACKEND="results",
            CACHES=TABLELESS_CACHES,
        ),
        pytest.raises(SystemCheckError, match=r"django_celery_results\.E012"),
    ):
        call_command("check", "--database", "default", stdout=StringIO(), stderr=StringIO())


# -- W006: settings of ours that do not exist ------------------------------------------------


def test_w006_misspelled_setting() -> None:
    """A ``DJANGO_CELERY_RESULTS_*`` name the package does not read is W006, with a guess."""
    message = only("W006", DJANGO_CELERY_RESULTS_EXPIRY_BATCHSIZE=5)
    assert isinstance(message, CheckWarning)
    assert_names(
        message,
        "DJANGO_CELERY_RESULTS_EXPIRY_BATCHSIZE",
        hint="DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE",
    )


def test_w006_known_setting() -> None:
    """A setting the package reads passes."""
    assert ours(DJANGO_CELERY_RESULTS_EXPIRY_BATCH_SIZE=5) == []

"""Translations: the admin speaks each shipped language, and every catalog is complete.

The package ships ``locale/<lang>/LC_MESSAGES/django.po`` and its compiled ``django.mo`` for
es, pt_BR, ru and zh_Hans. The pages are rendered by Django's test client as a logged-in
superuser (as in ``test_admin_pages.py``), under ``LANGUAGE_CODE``, an active language, or the
browser's ``Accept-Language`` with ``LocaleMiddleware``. The catalog tests need no gettext
tools: they read the ``.po`` files themselves, find every string the package marks for
translation with ``ast``, and load the ``.mo`` with Python's ``gettext``, so a string added
without a translation, or a ``.po`` edited without compiling, fails here with what to run.
"""

from __future__ import annotations

import ast
import gettext
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import states, uuid
from django.contrib.auth.models import User
from django.core import checks
from django.test import Client, override_settings
from django.utils import translation

import django_celery_results
from django_celery_results.adapters.django_orm.models import TaskResult

PACKAGE = Path(django_celery_results.__file__).parent
LOCALE = PACKAGE / "locale"
#: The languages the package ships (directory names under ``locale/``).
SHIPPED = ("es", "pt_BR", "ru", "zh_Hans")
TASKS = "/admin/django_celery_results/taskresult/"
HOW_TO_FIX = (
    "run `django-admin makemessages -l es -l pt_BR -l ru -l zh_Hans` and "
    "`django-admin compilemessages` in src/django_celery_results, then translate the new "
    "entries (CONTRIBUTING: Translations)"
)

# ---------------------------------------------------------------------------------------------
# Pages


@pytest.fixture
def client() -> Client:
    """A test client logged in as a superuser, with one failed task stored."""
    TaskResult.objects.store_result(
        "application/json",
        "utf-8",
        uuid(),
        '{"exc_type": "ValueError", "exc_message": ["boom"]}',
        states.FAILURE,
        task_name="proj.tasks.divide",
        worker="celery@alpha",
    )
    client = Client()
    client.force_login(User.objects.create_superuser(f"admin-{uuid()}", password="x"))
    return client


def _text(client: Client, path: str, headers: dict[str, str] | None = None) -> str:
    """The page at ``path``, checked to render (200), casefolded."""
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode().casefold()


#: Per language: what the task list shows (app name, model name, column and filter titles).
TASK_LIST_LABELS = {
    "es": ("Resultados de Celery", "resultados de tareas", "nombre de la tarea", "trabajador"),
    "pt-br": ("Resultados do Celery", "resultados de tarefas", "nome da tarefa", "worker"),
    "ru": ("Результаты Celery", "результаты задач", "имя задачи", "воркер"),
    "zh-hans": ("Celery 结果", "任务结果", "任务名称", "工作节点"),
}


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="es")
def test_task_list_under_language_code_es_shows_spanish_labels(client: Client) -> None:
    """With ``LANGUAGE_CODE = "es"`` the task list shows the app, model and column in Spanish."""
    html = _text(client, TASKS)
    for label in TASK_LIST_LABELS["es"]:
        assert label.casefold() in html, label
    assert "celery results" not in html
    assert "task name" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ru", "zh-hans"])
def test_task_list_in_the_active_language(client: Client, language: str) -> None:
    """Under ``translation.override`` (ru, zh-hans) the task list shows that language's labels."""
    with translation.override(language):
        html = _text(client, TASKS)
    for label in TASK_LIST_LABELS[language]:
        assert label.casefold() in html, (language, label)
    assert "celery results" not in html


@pytest.mark.django_db
def test_task_list_follows_the_browser_with_locale_middleware(client: Client) -> None:
    """With ``LocaleMiddleware``, ``Accept-Language: pt-BR`` gives the Brazilian labels."""
    with override_settings(
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.locale.LocaleMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
    ):
        html = _text(client, TASKS, {"Accept-Language": "pt-BR"})
    for label in TASK_LIST_LABELS["pt-br"]:
        assert label.casefold() in html, label


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="es")
def test_task_page_under_language_code_es_shows_spanish_sections_and_help(
    client: Client,
) -> None:
    """A task's page shows the sections, field labels and help texts in Spanish."""
    row = TaskResult.objects.get()
    html = _text(client, f"{TASKS}{row.pk}/change/")
    for text in (
        "Llamada",
        "Resultado final",
        "argumentos posicionales",
        "El id que Celery asignó",
    ):
        assert text.casefold() in html, text


@override_settings(LANGUAGE_CODE="es", DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH=0)
def test_system_check_messages_follow_language_code() -> None:
    """``manage.py check`` reports this package's problems in the project's language too."""
    ours = [m for m in checks.run_checks() if (m.id or "").startswith("django_celery_results.")]
    assert any(
        "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH debe ser un número entero" in str(m.msg)
        for m in ours
    ), [str(m.msg) for m in ours]


# ---------------------------------------------------------------------------------------------
# Catalogs


@dataclass
class Catalog:
    """A parsed ``.po`` file: the header and each entry by (context, msgid)."""

    header: str = ""
    #: (context or None, msgid) -> the msgstr forms (one, or one per plural form).
    entries: dict[tuple[str | None, str], list[str]] = field(default_factory=dict)
    plural: dict[tuple[str | None, str], str] = field(default_factory=dict)
    fuzzy: list[str] = field(default_factory=list)


_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')


def _po(path: Path) -> Catalog:
    """Parse a ``.po`` as makemessages writes it (obsolete ``#~`` entries are ignored)."""
    catalog = Catalog()
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        parts: dict[str, str] = {}
        key = ""
        flags = ""
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += line
            elif match := _KEYWORD.match(line):
                key = match[1]
                parts[key] = ast.literal_eval(match[2])
            elif line.startswith('"') and key:
                parts[key] += ast.literal_eval(line)
        if "msgid" not in parts:
            continue
        context, msgid = parts.get("msgctxt"), parts["msgid"]
        if context is None and msgid == "":
            catalog.header = parts["msgstr"]
            continue
        if "fuzzy" in flags:
            catalog.fuzzy.append(msgid)
        if "msgid_plural" in parts:
            catalog.plural[context, msgid] = parts["msgid_plural"]
            forms = sorted(k for k in parts if k.startswith("msgstr["))
            catalog.entries[context, msgid] = [parts[k] for k in forms]
        else:
            catalog.entries[context, msgid] = [parts["msgstr"]]
    return catalog


def _language_dirs() -> list[str]:
    return sorted(path.name for path in LOCALE.iterdir() if path.is_dir())


@pytest.fixture(params=SHIPPED)
def language(request: pytest.FixtureRequest) -> str:
    """Each shipped language's directory name."""
    name: str = request.param
    return name


def _catalog(language: str) -> Catalog:
    return _po(LOCALE / language / "LC_MESSAGES" / "django.po")


def test_the_shipped_languages_are_the_locale_directories() -> None:
    """``locale/`` holds exactly the shipped languages (a new one is added to ``SHIPPED``)."""
    assert _language_dirs() == sorted(SHIPPED)


def test_header_names_the_language_and_its_plural_forms(language: str) -> None:
    """The header says the language and a plural rule gettext can evaluate."""
    header = _catalog(language).header
    assert f"Language: {language}\n" in header
    assert "charset=UTF-8" in header
    match = re.search(r"Plural-Forms: nplurals=(\d+); plural=(.+?);?\n", header)
    assert match, header
    rule = gettext.c2py(match[2])
    assert {rule(n) for n in range(200)} <= set(range(int(match[1])))


def test_every_entry_is_translated(language: str) -> None:
    """No empty and no fuzzy ``msgstr``; plural entries have one form per plural form."""
    catalog = _catalog(language)
    empty = [msgid for (_, msgid), forms in catalog.entries.items() if not all(forms)]
    assert not empty, f"untranslated in {language}: {empty}; {HOW_TO_FIX}"
    assert not catalog.fuzzy, f"fuzzy in {language}: {catalog.fuzzy}; check and unmark them"
    nplurals = re.search(r"nplurals=(\d+)", catalog.header)
    assert nplurals
    for key in catalog.plural:
        assert len(catalog.entries[key]) == int(nplurals[1]), key


_PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdrifxXeEgGc%]|\{\w*\}")


def test_translations_keep_the_placeholders(language: str) -> None:
    """Each translation uses the same ``%(name)s`` / ``{name}`` placeholders as its source."""
    for (_, msgid), forms in _catalog(language).entries.items():
        expected = sorted(_PLACEHOLDER.findall(msgid))
        for form in forms:
            assert sorted(_PLACEHOLDER.findall(form)) == expected, (language, msgid, form)


_SIMPLE = {"_", "gettext", "gettext_lazy", "gettext_noop"}
_PLURAL = {"ngettext", "ngettext_lazy"}
_CONTEXT = {"pgettext", "pgettext_lazy"}


def _marked_strings() -> Iterator[tuple[str, tuple[str | None, str]]]:
    """Every literal string the package passes to a gettext function: (file, (context, msgid))."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            where = str(path.relative_to(PACKAGE))
            if name in _SIMPLE | _PLURAL and args and isinstance(args[0], str):
                yield where, (None, args[0])
            elif name in _CONTEXT and len(args) > 1 and isinstance(args[1], str):
                yield where, (args[0] if isinstance(args[0], str) else None, args[1])


def test_every_marked_string_is_in_every_catalog(language: str) -> None:
    """Each string the code marks for translation has an entry (a newcomer's new string fails)."""
    entries = _catalog(language).entries
    missing = [f"{where}: {key[1]!r}" for where, key in _marked_strings() if key not in entries]
    assert not missing, f"not in locale/{language}: {missing}; {HOW_TO_FIX}"


def test_the_compiled_catalog_matches_the_po(language: str) -> None:
    """``django.mo`` holds exactly what ``django.po`` says (compilemessages was run after it)."""
    directory = LOCALE / language / "LC_MESSAGES"
    catalog = _po(directory / "django.po")
    with (directory / "django.mo").open("rb") as mo_file:
        compiled = dict(gettext.GNUTranslations(mo_file)._catalog)  # type: ignore[attr-defined]
    # msgfmt leaves the POT-Creation-Date out of the compiled header (reproducible builds).
    header = re.sub(r"POT-Creation-Date: .*\n", "", catalog.header)
    expected: dict[object, str] = {"": header}
    for (context, msgid), forms in catalog.entries.items():
        key = msgid if context is None else f"{context}\x04{msgid}"
        if (context, msgid) in catalog.plural:
            expected.update({(key, n): form for n, form in enumerate(forms)})
        else:
            expected[key] = forms[0]
    assert compiled == expected, f"locale/{language}/LC_MESSAGES/django.mo is stale; {HOW_TO_FIX}"

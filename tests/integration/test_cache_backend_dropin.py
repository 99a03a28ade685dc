"""Cache entries the old package wrote read back through CacheBackend, and the other way round.

Pins that a deployment switching packages keeps its cached results: the same keys and the same
stored meta for task results, failures and groups, in a file cache both packages open.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.result import AsyncResult, GroupResult
from django.test.utils import override_settings

from tests import settings as test_settings
from tests.integration.cache_backend_support import Request, backend_of, make_app

# -- drop-in: entries the old package wrote, and the other way round -------------------------

OLD_WRITES = """
from celery import Celery
from celery.result import AsyncResult, GroupResult
from django_celery_results.backends.cache import CacheBackend

app = Celery("old", set_as_current=False)
app.conf.update(result_backend="django-cache", cache_backend="shared", result_expires=600)
backend = CacheBackend(app=app)
backend.store_result("old-ok", {"answer": 42}, "SUCCESS")
backend.store_result("old-failed", ValueError("boom"), "FAILURE", traceback="old traceback")
backend.save_group("old-group", GroupResult("old-group", [AsyncResult("old-ok", app=app)], app=app))
"""

OLD_READS = """
from celery import Celery
from django_celery_results.backends.cache import CacheBackend

app = Celery("old", set_as_current=False)
app.conf.update(result_backend="django-cache", cache_backend="shared", result_expires=600)
backend = CacheBackend(app=app)
for task_id in ("new-ok", "new-failed"):
    meta = backend.get_task_meta(task_id)
    print(task_id, meta["status"], repr(meta["result"]))
print("group", [r.id for r in backend.restore_group("new-group").results])
"""


def test_old_and_new_package_read_each_others_entries(tmp_path: Any) -> None:
    """Results and groups the old package wrote read back here, and ours read back there.

    Both use the same keys (Celery's, for ordinary ids) and the same stored meta, so a
    deployment switching packages keeps its cached results (a file cache both can open).
    """
    from tests.oldpkg import run_old

    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
    shared["LOCATION"] = str(tmp_path / "shared-cache")
    run_old(OLD_WRITES, settings={"CACHES": {"default": shared, "shared": shared}})
    with override_settings(CACHES={**test_settings.CACHES, "shared": shared}):
        backend = backend_of(make_app(cache_backend="shared"))
        ok = backend.get_task_meta("old-ok")
        assert (ok["status"], ok["result"]) == (states.SUCCESS, {"answer": 42})
        failed = backend.get_task_meta("old-failed")
        assert failed["status"] == states.FAILURE
        assert isinstance(failed["result"], ValueError)
        assert failed["traceback"] == "old traceback"
        restored = backend.restore_group("old-group")
        assert restored is not None
        assert [r.id for r in restored.results or []] == ["old-ok"]

        backend.mark_as_done("new-ok", {"answer": 43}, request=Request())
        backend.mark_as_failure("new-failed", KeyError("gone"), request=Request())
        app = backend.app
        backend.save_group("new-group", GroupResult("new-group", [AsyncResult("new-ok", app=app)]))
    output = run_old(OLD_READS, settings={"CACHES": {"default": shared, "shared": shared}})
    assert output.splitlines() == [
        "new-ok SUCCESS {'answer': 43}",
        "new-failed FAILURE KeyError('gone')",
        "group ['new-ok']",
    ]

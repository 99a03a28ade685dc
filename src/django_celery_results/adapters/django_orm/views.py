"""JSON views of task and group state, read through Celery's result API.

The views ask the current Celery app (``celery.current_app``) through ``AsyncResult`` and
``GroupResult``, so they show what any Celery client would see, whichever result backend the
app is configured with.

Failed tasks: an exception's message and its traceback often carry paths, queries or data the
public must not see, so for a task in an exception state (FAILURE, RETRY, REVOKED) the
``result``, ``exc`` and ``traceback`` keys are ``null`` unless the request comes from an
active staff user or the setting ``DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS = True`` publishes
them to everyone (the old package always did).
"""

from __future__ import annotations

from typing import Any

from celery import current_app, states
from celery.result import AsyncResult, GroupResult
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

__all__ = ["group_status", "is_group_successful", "is_task_successful", "task_status"]


class _ResultEncoder(DjangoJSONEncoder):
    # A result may be any value its serializer can carry (pickle allows anything); one that
    # JSON cannot express is shown as its repr rather than failing the whole response.
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return repr(o)


def _json(payload: dict[str, Any]) -> JsonResponse:
    return JsonResponse(payload, encoder=_ResultEncoder)


def _may_see_errors(request: HttpRequest) -> bool:
    if getattr(settings, "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS", False):
        return True
    # No auth middleware, or a custom user model without these flags: treat as anonymous.
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def _async_result(task_id: str) -> AsyncResult[Any]:
    return AsyncResult(task_id, app=current_app)


def _restore_group(group_id: str) -> GroupResult | None:
    return GroupResult.restore(group_id, app=current_app)


def _members(group: GroupResult | None) -> list[object]:
    # Typed as objects: besides AsyncResults, a group of groups holds GroupResults.
    return list(group.results or []) if group is not None else []


def _member_state(member: object, show_errors: bool) -> dict[str, Any]:
    if isinstance(member, GroupResult):
        results = [_member_state(inner, show_errors) for inner in _members(member)]
        return {"id": member.id, "results": results}
    if isinstance(member, AsyncResult):
        return _task_state(member, show_errors)
    return {"id": getattr(member, "id", None)}


def _succeeded(member: object) -> bool:
    # AsyncResult and GroupResult both answer successful() (a group: every member succeeded).
    return isinstance(member, (AsyncResult, GroupResult)) and member.successful()


def _task_state(result: AsyncResult[Any], show_errors: bool) -> dict[str, Any]:
    status = result.status
    state: dict[str, Any] = {"id": result.id, "status": status}
    if status in states.EXCEPTION_STATES:
        if show_errors:
            error = result.result
            kind = type(error)
            state["result"] = repr(error)
            state["exc"] = f"{kind.__module__}.{kind.__qualname__}"
            state["traceback"] = result.traceback
        else:
            state.update(result=None, exc=None, traceback=None)
    else:
        state["result"] = result.result
    return state


@never_cache
def is_task_successful(request: HttpRequest, task_id: str) -> JsonResponse:
    """``{"task": {"id": ..., "executed": bool}}``: whether the task finished with SUCCESS."""
    return _json({"task": {"id": task_id, "executed": _async_result(task_id).successful()}})


@never_cache
def task_status(request: HttpRequest, task_id: str) -> JsonResponse:
    """``{"task": {"id", "status", "result"}}``, plus ``exc`` and ``traceback`` for a failure.

    An unknown task is PENDING, as Celery reports it. The error details of a failed task are
    ``null`` unless the user is active staff or ``DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS`` is
    True (see the module docstring).
    """
    state = _task_state(_async_result(task_id), _may_see_errors(request))
    return _json({"task": state})


@never_cache
def is_group_successful(request: HttpRequest, group_id: str) -> JsonResponse:
    """``{"group": {"id", "results": [{"id", "executed"}, ...]}}`` for a saved group.

    A group that was never saved (``GroupResult.save()``) has an empty ``results`` list.
    """
    results = [
        {"id": getattr(member, "id", None), "executed": _succeeded(member)}
        for member in _members(_restore_group(group_id))
    ]
    return _json({"group": {"id": group_id, "results": results}})


@never_cache
def group_status(request: HttpRequest, group_id: str) -> JsonResponse:
    """``{"group": {"id", "results": [<task state>, ...]}}``: each member as ``task_status``.

    A group that was never saved has an empty ``results`` list; failed members follow the same
    error-detail rule as ``task_status``.
    """
    show_errors = _may_see_errors(request)
    results = [_member_state(member, show_errors) for member in _members(_restore_group(group_id))]
    return _json({"group": {"id": group_id, "results": results}})

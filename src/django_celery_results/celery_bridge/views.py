"""JSON views of task and group state, read through Celery's result API (both backends).

The views ask the current Celery app (``celery.current_app``) through ``AsyncResult`` and
``GroupResult``, so they show what any Celery client would see, whichever result backend the
app is configured with.

Who may read them: ``DJANGO_CELERY_RESULTS_VIEWS_ACCESS`` (``views_access``; by default
everyone). A request the rule denies gets a JSON 403 and nothing else; under a per-object rule
(a callable) a group view also asks about each member, and a member the request may not read is
shown as its id with the denial's ``detail`` and ``code`` instead of its state.

Failed tasks: an exception's message and its traceback often carry paths, queries or data the
public must not see, so for a task in an exception state (FAILURE, RETRY, REVOKED) the
``result``, ``exc`` and ``traceback`` keys are ``null`` unless the request comes from an
active staff user or the setting ``DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS = True`` publishes
them to everyone the access rule lets read the task (the old package always showed them).

Rows this app cannot decode: a row written under another serializer than this app accepts (a
pickle row read by an app whose ``accept_content`` is JSON only), or damaged, still answers
JSON 200, never a 500 page. The answer carries the state and an ``error`` saying that the stored
result (or group) cannot be decoded; why (the decoder's exception) is added for those who may see
error details under the rule above. The state comes from the backend's own state column where it
has one (``django-db``); a backend that keeps the state inside the undecodable payload cannot
tell it, and the state is then ``null``.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from celery import current_app, states
from celery.result import AsyncResult, GroupResult
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from kombu.exceptions import DecodeError, SerializerNotInstalled

from ..domain.errors import InvalidRecordError
from ..domain.results import ResultStore
from .views_access import AccessRule, ObjectKind, current_rule, denial, denied_response

__all__ = ["group_status", "is_group_successful", "is_task_successful", "task_status"]

logger = logging.getLogger(__name__)

#: What reading a stored row raises when its payload cannot be decoded here: a content type
#: outside ``accept_content`` (kombu's ContentDisallowed, a SerializerNotInstalled) or with no
#: serializer installed, a payload its serializer rejects (DecodeError), binary text that is not
#: base64 (InvalidRecordError). Storage failures are not among them: those stay errors.
_UNDECODABLE: tuple[type[Exception], ...] = (
    DecodeError,
    SerializerNotInstalled,
    InvalidRecordError,
)


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
    # Asked only once the access rule let the request in: a denied request sees nothing.
    if getattr(settings, "DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS", False):
        return True
    # No auth middleware, or a custom user model without these flags: treat as anonymous.
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


@attrs.frozen
class _Reading:
    """One allowed request: whether it may see error details, and may read a group's members."""

    request: HttpRequest
    rule: AccessRule
    show_errors: bool

    def denied(self, kind: ObjectKind, object_id: str | None) -> dict[str, Any] | None:
        """The answer for a group member the request may not read, or None if it may."""
        # A nested group restored without an id is asked about as "".
        if not self.rule.per_object or self.rule.allows(self.request, kind, object_id or ""):
            return None
        return {"id": object_id, **denial(self.request)}


def _reading(request: HttpRequest, kind: ObjectKind, object_id: str) -> _Reading | None:
    """The request's reading of ``object_id``, or None if the access rule denies it."""
    rule = current_rule()
    if not rule.allows(request, kind, object_id):
        return None
    return _Reading(request, rule, _may_see_errors(request))


def _async_result(task_id: str) -> AsyncResult[Any]:
    return AsyncResult(task_id, app=current_app)


def _restore_group(group_id: str) -> GroupResult | None:
    return GroupResult.restore(group_id, app=current_app)


def _members(group: GroupResult | None) -> list[object]:
    # Typed as objects: besides AsyncResults, a group of groups holds GroupResults.
    return list(group.results or []) if group is not None else []


#: What anyone allowed is told about a row that cannot be decoded, by what the row holds.
_UNDECODABLE_MESSAGES = {
    "task": _("the stored result of this task cannot be decoded"),
    "group": _("the stored group cannot be decoded"),
}


def _undecodable(what: ObjectKind, exc: Exception, show_errors: bool) -> str:
    """The ``error`` of an answer about a row that cannot be decoded."""
    message = str(_UNDECODABLE_MESSAGES[what])
    if show_errors:
        # The decoder's message may quote the payload, so it follows the error-detail rule.
        kind = type(exc)
        message += f": {kind.__module__}.{kind.__qualname__}: {exc}"
    return message


def _stored_state(task_id: str) -> str | None:
    """The state stored for ``task_id``, read without decoding its payload; None if unknown."""
    # django-db keeps the state in a column of its own beside the serialized payload, so it
    # can be told when the payload cannot; a backend that keeps the state inside the payload
    # (django-cache, Celery's key-value backends) has nothing to read it from.
    store = getattr(current_app.backend, "result_store", None)
    if not isinstance(store, ResultStore):
        return None
    record = store.get_task(task_id)
    return states.PENDING if record is None else record.status


def _task_undecodable(task_id: str, exc: Exception) -> str | None:
    """Log the decoding failure of ``task_id``'s row and return its stored state."""
    logger.warning("Cannot decode the stored result of task %s: %r", task_id, exc)
    return _stored_state(task_id)


def _restored_members(group_id: str, show_errors: bool) -> tuple[list[object], str | None]:
    """A saved group's members and None, or no members and the error when it cannot be decoded."""
    try:
        return _members(_restore_group(group_id)), None
    except _UNDECODABLE as exc:
        logger.warning("Cannot decode the stored group %s: %r", group_id, exc)
        return [], _undecodable("group", exc, show_errors)


def _member_state(member: object, reading: _Reading) -> dict[str, Any]:
    if isinstance(member, GroupResult):
        if (denied := reading.denied("group", member.id)) is not None:
            return denied
        results = [_member_state(inner, reading) for inner in _members(member)]
        return {"id": member.id, "results": results}
    if isinstance(member, AsyncResult):
        if (denied := reading.denied("task", member.id)) is not None:
            return denied
        return _task_state(member, reading.show_errors)
    return {"id": getattr(member, "id", None)}


def _member_done(member: object, reading: _Reading) -> dict[str, Any]:
    # A nested group is done when every member is (GroupResult.successful() says the same);
    # one with a member the request may not read is not said to be done (that would tell).
    # The first member that cannot be decoded lends the group its error.
    if isinstance(member, GroupResult):
        if (denied := reading.denied("group", member.id)) is not None:
            return denied
        inner = [_member_done(each, reading) for each in _members(member)]
        executed = all(i.get("executed") is True for i in inner)
        done: dict[str, Any] = {"id": member.id, "executed": executed}
        errors = [i["error"] for i in inner if "error" in i]
        if errors:
            done["error"] = errors[0]
        return done
    if isinstance(member, AsyncResult):
        if (denied := reading.denied("task", member.id)) is not None:
            return denied
        return _task_done(member, reading.show_errors)
    return {"id": getattr(member, "id", None), "executed": False}


def _task_done(result: AsyncResult[Any], show_errors: bool) -> dict[str, Any]:
    try:
        return {"id": result.id, "executed": result.successful()}
    except _UNDECODABLE as exc:
        status = _task_undecodable(result.id, exc)
        return {
            "id": result.id,
            "executed": status == states.SUCCESS,
            "status": status,
            "error": _undecodable("task", exc, show_errors),
        }


def _task_state(result: AsyncResult[Any], show_errors: bool) -> dict[str, Any]:
    try:
        return _decoded_task_state(result, show_errors)
    except _UNDECODABLE as exc:
        status = _task_undecodable(result.id, exc)
        state: dict[str, Any] = {"id": result.id, "status": status, "result": None}
        if status in states.EXCEPTION_STATES:
            # The same keys as for a decoded failure; the exception itself is unknown.
            state.update(exc=None, traceback=None)
        state["error"] = _undecodable("task", exc, show_errors)
        return state


def _decoded_task_state(result: AsyncResult[Any], show_errors: bool) -> dict[str, Any]:
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
    """``{"task": {"id": ..., "executed": bool}}``: whether the task finished with SUCCESS.

    For a row that cannot be decoded, ``executed`` follows the stored state, and ``status`` and
    ``error`` are added (see the module docstring). A request the access rule denies gets a
    JSON 403 (``views_access``), as on every view here.
    """
    if (reading := _reading(request, "task", task_id)) is None:
        return denied_response(request)
    return _json({"task": _task_done(_async_result(task_id), reading.show_errors)})


@never_cache
def task_status(request: HttpRequest, task_id: str) -> JsonResponse:
    """``{"task": {"id", "status", "result"}}``, plus ``exc`` and ``traceback`` for a failure.

    An unknown task is PENDING, as Celery reports it. The error details of a failed task are
    ``null`` unless the user is active staff or ``DJANGO_CELERY_RESULTS_EXPOSE_TRACEBACKS`` is
    True (see the module docstring).
    """
    if (reading := _reading(request, "task", task_id)) is None:
        return denied_response(request)
    return _json({"task": _task_state(_async_result(task_id), reading.show_errors)})


@never_cache
def is_group_successful(request: HttpRequest, group_id: str) -> JsonResponse:
    """``{"group": {"id", "results": [{"id", "executed"}, ...]}}`` for a saved group.

    A group that was never saved (``GroupResult.save()``) has an empty ``results`` list; so has
    one whose stored row cannot be decoded, with an ``error`` beside it. A member that cannot
    be decoded is answered as ``is_task_successful`` answers it.
    """
    if (reading := _reading(request, "group", group_id)) is None:
        return denied_response(request)
    members, error = _restored_members(group_id, reading.show_errors)
    results = [_member_done(member, reading) for member in members]
    return _json(_group_answer(group_id, results, error))


@never_cache
def group_status(request: HttpRequest, group_id: str) -> JsonResponse:
    """``{"group": {"id", "results": [<task state>, ...]}}``: each member as ``task_status``.

    A group that was never saved has an empty ``results`` list, and so has one whose stored row
    cannot be decoded, with an ``error``; failed members and members that cannot be decoded
    follow the same rules as ``task_status``.
    """
    if (reading := _reading(request, "group", group_id)) is None:
        return denied_response(request)
    members, error = _restored_members(group_id, reading.show_errors)
    results = [_member_state(member, reading) for member in members]
    return _json(_group_answer(group_id, results, error))


def _group_answer(
    group_id: str, results: list[dict[str, Any]], error: str | None
) -> dict[str, Any]:
    group: dict[str, Any] = {"id": group_id, "results": results}
    if error is not None:
        group["error"] = error
    return {"group": group}

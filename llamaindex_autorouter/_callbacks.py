"""The router's legacy callback event: one `CBEventType.LLM` start/end pair per call on
`AutoRouterLLM.callback_manager`, as LlamaIndex's `llm_chat_callback` /
`llm_completion_callback` emit it (without dispatcher events: the candidate emits those)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload

if TYPE_CHECKING:
    from .llms import AutoRouterLLM


class LLMRun:
    """The router's `CBEventType.LLM` event of one call: started at once, ended once."""

    def __init__(self, manager: CallbackManager, llm: AutoRouterLLM, kind: str, prompt: Any, kwargs: dict[str, Any]) -> None:
        self.manager = manager
        self.kind = kind
        self.prompt = prompt
        self.done = False
        payload: dict[str, Any] = {
            EventPayload.ADDITIONAL_KWARGS: kwargs,
            EventPayload.SERIALIZED: llm.to_payload(),
            (EventPayload.MESSAGES if kind == "chat" else EventPayload.PROMPT): prompt,
        }
        self.event_id = manager.on_event_start(CBEventType.LLM, payload=payload)

    def end(self, response: Any) -> None:
        if self.done:
            return
        self.done = True
        payload: dict[str, Any]
        if self.kind == "chat":
            payload = {EventPayload.MESSAGES: self.prompt, EventPayload.RESPONSE: response}
        else:
            payload = {EventPayload.PROMPT: self.prompt, EventPayload.COMPLETION: response}
        self.manager.on_event_end(CBEventType.LLM, payload=payload, event_id=self.event_id)

    def fail(self, exc: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self.manager.on_event_end(CBEventType.LLM, payload={EventPayload.EXCEPTION: exc}, event_id=self.event_id)


@contextmanager
def llm_run(llm: AutoRouterLLM, kind: str, prompt: Any, kwargs: dict[str, Any]) -> Iterator[LLMRun]:
    """One `CBEventType.LLM` event of `llm`'s call (`kind` "chat" or "completion"), in a trace
    of its own; a failure inside ends it with the exception. A stream's event outlives the
    block: its relay ends it."""
    if not isinstance(llm.callback_manager, CallbackManager):
        llm.callback_manager = CallbackManager()
    manager = llm.callback_manager
    with manager.as_trace(kind):
        run = LLMRun(manager, llm, kind, prompt, kwargs)
        try:
            yield run
        except BaseException as exc:
            run.fail(exc)
            raise

"""Learning from use over HTTP: reinforce a query's concepts with the chunks a user chose, undo it, list it."""
from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from core.server.errors import check_question, error_body
from core.server.recall import QUESTION_MAX
from core.server.writing import writing


class ReinforceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (a misspelt "chunks") is named, not dropped
    query: str = Field(min_length=1, max_length=QUESTION_MAX)
    chunk_ids: list[StrictInt] = Field(min_length=1, max_length=1000)
    rate: float = Field(default=0.5, gt=0, lt=1, allow_inf_nan=False)  # NaN was "should be less than 1"


def learning_routes(app, v1, v1_json, slot, writable_slot, value_error) -> None:
    """Register ``POST .../reinforce``, ``DELETE .../reinforce/{event_id}`` and ``GET .../reinforcements`` on
    ``app``; ``value_error(exc, field)`` words the engine's refusal of a value as a 422 naming the field."""

    @app.post("/v1/memories/{name}/reinforce", dependencies=v1_json, status_code=201)
    def reinforce(name: str, body: ReinforceIn):
        """Strengthen the query's concepts and codes with the chosen chunks; returns the event id (undo: DELETE)."""
        s = writable_slot(name)
        check_question(("body", "query"), body.query)
        from core.memory.learning import UnknownChunkError

        try:
            with writing(s):
                eid = s.memory.reinforce(body.query, body.chunk_ids, rate=body.rate)
        except UnknownChunkError as exc:  # the client sent them: named in fields, which were [] ("no field at fault")
            words = str(exc.args[0] if exc.args else exc)
            return JSONResponse(error_body(words, [{"field": "chunk_ids", "message": words}]), status_code=404)
        except ValueError as exc:
            raise value_error(exc, "query") from None
        # as stored (an id given twice once): the answer echoed [7, 7] where GET .../reinforcements said [7]
        return {"event": eid, "query": body.query, "chunk_ids": list(dict.fromkeys(body.chunk_ids)), "rate": body.rate}

    @app.delete("/v1/memories/{name}/reinforce/{event_id}", dependencies=v1)
    def unreinforce(name: str, event_id: int):
        """Undo one reinforcement event."""
        s = writable_slot(name)
        with writing(s):
            found = s.memory.unreinforce(event_id)
        if not found:
            raise HTTPException(404, f"no reinforcement event {event_id} in memory {name!r}")
        return {"undone": event_id}

    @app.get("/v1/memories/{name}/reinforcements", dependencies=v1)
    def reinforcements(name: str):
        """Every reinforcement event with its current (decayed) weight."""
        s = slot(name)
        return {"half_life_days": s.memory.reinforcement_half_life, "events": s.memory.reinforcements()}

"""Request and response models of the worker routes (`/api/workers...`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel, StrictInt

PRIORITY_RANGE = 1_000_000


class WorkerQuery(BaseModel):
    name: str | None = Field(None, description="only this worker")


class WorkerInfo(BaseModel):
    """A worker as OVE describes it."""

    name: str
    type: str
    description: str
    extensions: list[str]
    status: Literal["ready", "processing", "error"]
    docs: str
    parameters: dict[str, Any]


class WorkerList(RootModel[list[WorkerInfo]]):
    pass


class WorkerStatuses(RootModel[dict[str, Literal["ready", "processing", "error"]]]):
    pass


class WorkerName(BaseModel):
    name: str = Field(min_length=1)


class StatusOK(BaseModel):
    status: Literal["OK"] = "OK"


class TaskInfo(BaseModel):
    """A task of the queue, in OVE's field names; dates are `%Y-%m-%d %H:%M:%S` UTC."""

    object_id: str = Field(alias="_id", description="the task's id (OVE's Mongo `_id`)")
    id: str
    createdOn: str
    priority: int
    status: Literal["new", "processing", "canceling", "canceled", "done", "error"]
    username: str
    storeID: str
    projectID: str
    assetID: str
    filename: str
    extension: str
    workerType: str
    taskOptions: dict[str, Any]
    workerName: str | None
    startTime: str | None
    endTime: str | None
    error: str | None


class TaskList(RootModel[list[TaskInfo]]):
    pass


class QueueRequest(BaseModel):
    """Run a worker on an asset's file (`parameters.filename`, or the asset's file)."""

    store_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    asset_id: str = Field(min_length=1)
    worker_type: str = Field(min_length=1)
    parameters: dict[str, Any] | None = None
    priority: StrictInt = Field(1, ge=-PRIORITY_RANGE, le=PRIORITY_RANGE)


class Queued(BaseModel):
    Status: Literal["OK"] = "OK"
    task_id: str


class TaskRef(BaseModel):
    task_id: StrictInt | str = Field(description="the task's id, as `task_id` or `_id` gave it")

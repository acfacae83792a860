// An asset's page: description and tags edited in place through the API.
"use strict";

const article = document.getElementById("asset");
const edit = document.getElementById("edit");
if (edit) {
  const status = document.getElementById("edit-status");
  edit.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Saving…";
    const tags = edit.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    const response = await api(article.dataset.metaUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ description: edit.description.value, tags }),
    });
    if (!response.ok) {
      status.textContent = await apiError(response);
      return;
    }
    const saved = await response.json();
    edit.tags.value = saved.tags.join(", ");
    status.textContent = "Saved.";
  });
}

// The zoomable view of a dzi worker's tiles, with the vendored OpenSeadragon.
const zoom = document.getElementById("zoom");
if (zoom && window.OpenSeadragon) {
  OpenSeadragon({
    element: zoom,
    tileSources: zoom.dataset.dzi,
    prefixUrl: "/ui/static/vendor/openseadragon-6.1.1/images/",
    showNavigator: true,
  });
}

// Worker actions: queue a worker that takes this asset's file (dzi, zip) and follow the
// task's status live from the queue.
const workersPanel = document.getElementById("workers");
if (workersPanel) {
  const { store, project, asset, filename } = workersPanel.dataset;
  const extension = filename.includes(".") ? filename.split(".").pop().toLowerCase() : "";
  const buttons = document.getElementById("worker-buttons");
  const status = document.getElementById("worker-status");

  async function follow(taskId) {
    for (;;) {
      const response = await api("/api/workers/queue");
      if (!response.ok) {
        status.textContent = await apiError(response);
        return;
      }
      const task = (await response.json()).find((t) => t.id === taskId);
      if (!task) return;
      const reason = task.error ? ` (${task.error})` : "";
      status.textContent = `${task.workerType}: ${task.status}${reason}`;
      if (["done", "error", "canceled"].includes(task.status)) {
        if (task.status === "done") window.location.reload();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function queue(worker) {
    status.textContent = `${worker.type}: queuing…`;
    const response = await api("/api/workers/queue", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        store_id: store,
        project_id: project,
        asset_id: asset,
        worker_type: worker.type,
      }),
    });
    if (!response.ok) {
      status.textContent = await apiError(response);
      return;
    }
    follow(String((await response.json()).task_id));
  }

  api("/api/workers").then(async (response) => {
    if (!response.ok) return;
    const offered = (await response.json()).filter((w) =>
      w.extensions.some((e) => e.replace(/^\./, "").toLowerCase() === extension),
    );
    for (const worker of offered) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `Run ${worker.name}`;
      button.title = worker.description;
      button.addEventListener("click", () => queue(worker));
      buttons.append(button);
    }
    workersPanel.hidden = offered.length === 0;
  });
}

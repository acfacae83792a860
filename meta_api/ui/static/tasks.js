// Following long work from a page: poll a task's URL (GET /api/tasks/{id}, or a bulk
// import's) until it is done, telling `onProgress` how far it is; a failure is an Error
// with the server's reason.
"use strict";

async function followTask(url, onProgress = () => {}) {
  for (;;) {
    const response = await api(url);
    if (!response.ok) throw new Error(await apiError(response));
    const task = await response.json();
    if (task.status === "done") return task;
    if (["failed", "canceled"].includes(task.status)) {
      throw new Error(task.error || `The work ${task.status}.`);
    }
    onProgress(task);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

// A JSON POST of the API: the answer's body, or an Error saying what was wrong.
async function postJson(url, body) {
  const response = await api(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await apiError(response));
  return response.json();
}

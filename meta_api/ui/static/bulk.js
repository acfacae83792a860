// A store's bulk import: send a CSV (POST /api/bulk-imports), follow the job row by row,
// then list the rows that failed with what was wrong in each.
"use strict";

(() => {
  const section = document.getElementById("bulk");
  if (!section) return;
  const form = document.getElementById("bulk-form");
  const status = document.getElementById("bulk-status");
  const table = document.getElementById("bulk-errors");

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    return td;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    table.hidden = true;
    status.textContent = "Sending the CSV…";
    try {
      const body = new FormData();
      body.append("file", form.file.files[0]);
      const query = new URLSearchParams({ store: section.dataset.store });
      if (form.project.value.trim()) query.set("project", form.project.value.trim());
      const started = await api(`/api/bulk-imports?${query}`, { method: "POST", body });
      if (!started.ok) throw new Error(await apiError(started));
      const job = await followTask(started.headers.get("Location"), (j) => {
        status.textContent = `Imported ${j.processed} of ${j.total_rows} rows…`;
      });
      if (job.failed) {
        const errors = await (await api(`/api/bulk-imports/${job.id}/errors`)).json();
        table.tBodies[0].replaceChildren(
          ...errors.map((e) => {
            const row = document.createElement("tr");
            row.append(cell(e.row), cell(e.column), cell(e.value), cell(e.message));
            return row;
          }),
        );
        table.hidden = false;
      }
      status.textContent =
        `Done: ${job.succeeded} of ${job.total_rows} rows imported, ${job.failed} failed.`;
    } catch (error) {
      status.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
})();

// The model library's administration: the staged models (import the chosen ones with a
// conflict strategy), a scan of the library, a migration of a legacy library, and the
// images still waiting for their model. Each run is a task followed until it is done.
"use strict";

(() => {
  const rows = document.getElementById("staged-rows");
  const selectAll = document.getElementById("select-all");
  const importForm = document.getElementById("import-form");
  const importStatus = document.getElementById("import-status");
  const importResult = document.getElementById("import-result");
  const findStatus = document.getElementById("find-status");
  const pendingList = document.getElementById("pending-images");

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  async function loadStaged() {
    const response = await api("/api/library/staged");
    if (!response.ok) {
      importStatus.textContent = await apiError(response);
      return;
    }
    const { models } = await response.json();
    rows.replaceChildren(
      ...models.map((m) => {
        const row = document.createElement("tr");
        const pick = document.createElement("input");
        pick.type = "checkbox";
        pick.value = m.id;
        pick.setAttribute("aria-label", `Select ${m.name}`);
        const first = document.createElement("td");
        first.append(pick);
        const sha = cell(m.sha256.slice(0, 12));
        sha.title = m.sha256;
        row.append(first, cell(m.name), cell(m.type), cell(m.origin), sha, cell(m.images));
        return row;
      }),
    );
    if (!models.length) {
      const row = document.createElement("tr");
      const empty = cell("Nothing is staged.");
      empty.colSpan = 6;
      row.append(empty);
      rows.replaceChildren(row);
    }
  }

  async function loadPending() {
    const response = await api("/api/library/pending-images");
    if (!response.ok) return;
    const { images } = await response.json();
    pendingList.replaceChildren(
      ...images.map((i) => {
        const item = document.createElement("li");
        const image = document.createElement("img");
        image.src = `${i.url}?quality=low`;
        image.alt = `Image ${i.seq + 1} for ${i.sha256.slice(0, 12)}`;
        image.width = 120;
        item.append(image, i.sha256.slice(0, 12));
        return item;
      }),
    );
  }

  // Start the work, follow its task, then show the lists as they are now and, last, what
  // came of it (so the message is there once the lists are).
  async function run(url, body, status, describe) {
    status.textContent = "Starting…";
    let result = null;
    let message;
    try {
      const started = await postJson(url, body);
      const task = await followTask(`/api/tasks/${started.task_id}`, (t) => {
        const { done, total } = t.progress || {};
        status.textContent = total ? `Working: ${done} of ${total}…` : "Working…";
      });
      result = task.result;
      message = describe(result);
    } catch (error) {
      message = error.message;
    }
    await loadStaged();
    await loadPending();
    status.textContent = message;
    return result;
  }

  selectAll.addEventListener("change", () => {
    for (const box of rows.querySelectorAll("input[type=checkbox]")) {
      box.checked = selectAll.checked;
    }
  });

  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = [...rows.querySelectorAll("input:checked")].map((box) => Number(box.value));
    if (!ids.length) {
      importStatus.textContent = "Choose the models to import first.";
      return;
    }
    const strategy = importForm.strategy.value || null;
    const result = await run(
      "/api/library/import",
      { ids, conflict_strategy: strategy },
      importStatus,
      (r) =>
        `Imported ${r.success.length} of ${r.total}; ${r.conflict.length} conflict(s), ` +
        `${r.ignored.length} ignored, ${r.deleted.length} deleted, ${r.failed.length} failed.`,
    );
    if (!result) return;
    const lines = [
      ...result.conflict.map((c) => `${c.sha256.slice(0, 12)}: ${c.existing} has the same ${c.reason}`),
      ...result.failed.map((f) => `${f.sha256 || f.id}: ${f.error}`),
    ];
    importResult.replaceChildren(
      ...lines.map((line) => {
        const item = document.createElement("li");
        item.textContent = line;
        return item;
      }),
    );
    selectAll.checked = false;
  });

  document.getElementById("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const type = event.target.type.value.trim() || null;
    run("/api/library/scan", { type }, findStatus, (r) =>
      `Scanned ${r.scanned} file(s): ${r.pending_added} staged, ${r.skipped} skipped.`,
    );
  });

  document.getElementById("migrate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { source: form.source.value.trim() };
    if (form.images.value.trim()) body.images = form.images.value.trim();
    run("/api/library/migrate", body, findStatus, (r) =>
      `Staged ${r.db_migration.staged} model(s), ${r.db_migration.errors.length} problem(s); ` +
      `${r.image_migration.matched} of ${r.image_migration.images} image(s) matched.`,
    );
  });

  loadStaged();
  loadPending();
})();

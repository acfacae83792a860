// Export the assets of the current view (the grid's filters) into one zip with one of
// the export configurations you may use (POST /api/exports), follow the task, then offer
// its zip. Without a configuration yet, a default one (webp, JSON metadata) is made on
// first use; the "New export configuration" form makes others.
"use strict";

(() => {
  const form = document.getElementById("export");
  const select = document.getElementById("export-config");
  const status = document.getElementById("export-status");
  const browser = document.getElementById("browser");
  const CONFIGS = "/api/export-configurations";
  const configForm = document.getElementById("export-config-form");
  if (!form) return;

  function option(value, text) {
    const item = document.createElement("option");
    item.value = value;
    item.textContent = text;
    return item;
  }

  async function loadConfigurations() {
    const response = await api(CONFIGS);
    const found = response.ok ? await response.json() : [];
    select.replaceChildren(
      ...found.map((c) => option(c.id, `${c.name} (${c.image_format}, ${c.metadata_adapter})`)),
    );
    if (!found.length) select.append(option("", "Default (webp, JSON metadata)"));
  }

  async function configurationId() {
    if (select.value) return select.value;
    const made = await api(CONFIGS, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Default" }),
    });
    if (!made.ok) throw new Error(await apiError(made));
    const config = await made.json();
    await loadConfigurations();
    select.value = config.id;
    return config.id;
  }

  document.getElementById("export-config-delete").addEventListener("click", async () => {
    const chosen = select.selectedOptions[0];
    if (!select.value || !chosen) return;
    const response = await api(`${CONFIGS}/${encodeURIComponent(select.value)}`, {
      method: "DELETE",
    });
    const message = response.ok ? `Deleted: ${chosen.textContent}.` : await apiError(response);
    await loadConfigurations();
    status.textContent = message;
  });

  if (configForm) {
    configForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const configStatus = document.getElementById("config-status");
      const body = {
        name: configForm.name.value.trim(),
        image_format: configForm.image_format.value,
        metadata_adapter: configForm.metadata_adapter.value,
      };
      if (configForm.naming_convention_template.value.trim()) {
        body.naming_convention_template = configForm.naming_convention_template.value.trim();
      }
      try {
        const config = await postJson(CONFIGS, body);
        await loadConfigurations();
        select.value = config.id;
        configStatus.textContent = `Saved: ${config.name}.`;
      } catch (error) {
        configStatus.textContent = error.message;
      }
    });
  }

  function follow(taskId) {
    return followTask(`/api/tasks/${encodeURIComponent(taskId)}`, (task) => {
      const { done, total } = task.progress || {};
      status.textContent = total ? `Exporting ${done} of ${total}…` : "Exporting…";
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Starting the export…";
    try {
      const started = await api("/api/exports", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          configuration_id: await configurationId(),
          filter: browser.exportFilter,
        }),
      });
      if (!started.ok) throw new Error(await apiError(started));
      const task = await follow((await started.json()).task_id);
      const link = document.createElement("a");
      link.id = "export-download";
      link.href = task.download_url;
      const skipped = task.result.errors.length;
      link.textContent = `Download the zip (${task.result.exported} assets)`;
      status.replaceChildren(
        link,
        skipped ? ` — ${skipped} could not be named, see the task ${task.id}` : "",
      );
    } catch (error) {
      status.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });

  loadConfigurations();
})();

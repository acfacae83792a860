// An asset's sample images (a model's example pictures): shown small, opened large, added
// from the file picker, removed one by one (the later ones move down by one).
"use strict";

(() => {
  const section = document.getElementById("samples");
  if (!section) return;
  const list = document.getElementById("sample-list");
  const status = document.getElementById("sample-status");
  const picker = document.getElementById("sample-picker");
  const mayWrite = section.dataset.mayWrite === "true";

  function show(samples) {
    list.replaceChildren(
      ...samples.map((sample) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `${sample.webp}?quality=high`;
        const image = document.createElement("img");
        image.src = `${sample.webp}?quality=low`;
        image.alt = `Sample ${sample.seq + 1}`;
        image.width = 160;
        link.append(image);
        item.append(link);
        if (mayWrite) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.textContent = "Remove";
          remove.setAttribute("aria-label", `Remove sample ${sample.seq + 1}`);
          remove.addEventListener("click", () => removeSample(sample.seq));
          item.append(remove);
        }
        return item;
      }),
    );
    if (!samples.length) status.textContent = "No sample images yet.";
  }

  async function load() {
    const response = await api(section.dataset.url);
    if (!response.ok) {
      status.textContent = await apiError(response);
      return;
    }
    show((await response.json()).samples);
  }

  async function removeSample(seq) {
    const response = await api(`${section.dataset.url}/${seq}`, { method: "DELETE" });
    if (!response.ok) {
      status.textContent = await apiError(response);
      return;
    }
    status.textContent = `Sample ${seq + 1} removed.`;
    show((await response.json()).samples);
  }

  if (picker) {
    picker.addEventListener("change", async () => {
      const files = [...picker.files];
      for (const [n, file] of files.entries()) {
        status.textContent = `Adding ${file.name} (${n + 1} of ${files.length})…`;
        const body = new FormData();
        body.append("image", file);
        const response = await api(section.dataset.url, { method: "POST", body });
        if (!response.ok) {
          status.textContent = `${file.name}: ${await apiError(response)}`;
          picker.value = "";
          await load();
          return;
        }
      }
      status.textContent = `${files.length} sample image(s) added.`;
      picker.value = "";
      await load();
    });
  }

  load();
})();

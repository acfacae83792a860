// Drag-and-drop uploads, resumable through the tus endpoint (/api/uploads/) with the
// vendored tus-js-client: onto a project, each file becomes a new asset named after it;
// onto an asset, each file becomes its next version. A progress bar per file and overall,
// pause and resume, and the server's refusals (the store's rules) shown per file.
"use strict";

const zone = document.querySelector("[data-upload]");
if (zone && window.tus) {
  const list = document.getElementById("uploads");
  const overall = document.getElementById("upload-overall");
  const jobs = [];

  const assetName = (filename) =>
    filename.replace(/\.[^.]*$/, "").replace(/[\\/:*?"<>|\u0000-\u001f]/g, "_").trim() || "upload";

  function updateOverall() {
    const total = jobs.reduce((sum, job) => sum + job.file.size, 0);
    const sent = jobs.reduce((sum, job) => sum + job.sent, 0);
    overall.hidden = jobs.length === 0;
    overall.value = total ? sent / total : 0;
    overall.textContent = `${Math.round(100 * overall.value)}%`;
  }

  async function refusal(error) {
    const response = error.originalResponse;
    if (!response) return error.message;
    try {
      const body = JSON.parse(response.getBody());
      return `${body.title}: ${body.description}`;
    } catch (parseError) {
      return `${response.getStatus()}: ${response.getBody()}`;
    }
  }

  function start(file) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload of ${file.name}`);
    const pause = document.createElement("button");
    pause.type = "button";
    pause.textContent = "Pause";
    const status = document.createElement("span");
    status.className = "status";
    status.setAttribute("role", "status");
    item.append(label, bar, pause, status);
    list.append(item);

    const metadata = {
      store: zone.dataset.store,
      project: zone.dataset.project,
      filename: file.name,
      filetype: file.type,
    };
    if (zone.dataset.asset) {
      metadata.asset = zone.dataset.asset;
      metadata.update = "true";
    } else {
      metadata.asset = assetName(file.name);
      metadata.create = "true";
    }
    const job = { file, sent: 0 };
    jobs.push(job);
    const upload = new tus.Upload(file, {
      endpoint: "/api/uploads/",
      headers: XHR,
      metadata,
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000],
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        job.sent = sent;
        bar.value = total ? sent / total : 1;
        updateOverall();
      },
      async onError(error) {
        status.textContent = await refusal(error);
        item.classList.add("failed");
        pause.hidden = true;
      },
      onSuccess() {
        job.sent = file.size;
        bar.value = 1;
        updateOverall();
        status.textContent = "Uploaded";
        item.classList.add("done");
        pause.hidden = true;
        zone.dispatchEvent(new CustomEvent("uploaded", { detail: metadata }));
      },
    });
    let paused = false;
    pause.addEventListener("click", () => {
      paused = !paused;
      if (paused) {
        upload.abort();
        pause.textContent = "Resume";
      } else {
        upload.start();
        pause.textContent = "Pause";
      }
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("drop-target");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("drop-target"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("drop-target");
    for (const file of event.dataTransfer.files) start(file);
  });
  const picker = document.getElementById("upload-picker");
  if (picker) {
    picker.addEventListener("change", () => {
      for (const file of picker.files) start(file);
      picker.value = "";
    });
  }
}

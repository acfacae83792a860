// A project's assets: search, tag facets (require or exclude, with counts over the current
// result), sorting and paging, all through /api/assets and /api/tags/refine. The URL holds
// the whole filter state, so a link reproduces the view and back/forward work.
"use strict";

const root = document.getElementById("browser");
const store = root.dataset.store;
const project = root.dataset.project;
const pageSize = Number(root.dataset.page);
const grid = document.getElementById("grid");
const more = document.getElementById("more");
const total = document.getElementById("total");
const tagList = document.getElementById("tag-list");
const chips = document.getElementById("chips");
const form = document.getElementById("find");

let state = readState();
let offset = 0;
let generation = 0; // answers to an older state are dropped

function readState() {
  const params = new URLSearchParams(window.location.search);
  const list = (name) => (params.get(name) || "").split(",").filter(Boolean);
  return {
    q: params.get("q") || "",
    sort: params.get("sort") || "name",
    order: params.get("order") || "asc",
    include: list("include"),
    exclude: list("exclude"),
  };
}

function stateQuery(current) {
  const params = new URLSearchParams();
  if (current.q) params.set("q", current.q);
  if (current.sort !== "name") params.set("sort", current.sort);
  if (current.order !== "asc") params.set("order", current.order);
  if (current.include.length) params.set("include", current.include.join(","));
  if (current.exclude.length) params.set("exclude", current.exclude.join(","));
  return params.toString();
}

function filterParams() {
  const params = new URLSearchParams({ store, project });
  if (state.q) params.set("q", state.q);
  if (state.include.length) params.set("include_tags", state.include.join(","));
  if (state.exclude.length) params.set("exclude_tags", state.exclude.join(","));
  return params;
}

function change(update) {
  state = { ...state, ...update };
  const query = stateQuery(state);
  window.history.pushState(null, "", query ? `?${query}` : window.location.pathname);
  refresh();
}

function assetLink(asset) {
  const parts = [store, asset.project, asset.asset].map(encodeURIComponent);
  return `/ui/s/${parts.join("/")}`;
}

function card(asset) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = assetLink(asset);
  if (asset.preview_url) {
    const image = document.createElement("img");
    image.loading = "lazy";
    image.src = `${asset.preview_url}?quality=low`;
    image.alt = `Preview of ${asset.name}`;
    image.width = 256;
    image.height = 160;
    link.append(image);
  } else {
    const none = document.createElement("span");
    none.className = "no-preview";
    none.setAttribute("role", "img");
    none.setAttribute("aria-label", `No preview of ${asset.name}`);
    none.textContent = "∅";
    link.append(none);
  }
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = asset.name;
  link.append(name);
  const tags = document.createElement("span");
  tags.className = "tags";
  tags.textContent = asset.tags.join(", ");
  item.append(link, tags);
  return item;
}

let inFlight = null; // the generation whose next page is being fetched

async function loadPage(mine) {
  if (inFlight === mine) return; // a click and the scroll observer at once: one page
  inFlight = mine;
  try {
    await fetchPage(mine);
  } finally {
    if (inFlight === mine) inFlight = null;
  }
}

async function fetchPage(mine) {
  const params = filterParams();
  params.set("sort", state.sort);
  params.set("order", state.order);
  params.set("limit", String(pageSize));
  params.set("offset", String(offset));
  const response = await api(`/api/assets?${params}`);
  if (mine !== generation) return;
  if (!response.ok) {
    total.textContent = await apiError(response);
    more.hidden = true;
    return;
  }
  const page = await response.json();
  if (mine !== generation) return;
  grid.append(...page.assets.map(card));
  offset += page.assets.length;
  total.textContent = `${page.total} asset${page.total === 1 ? "" : "s"}`;
  more.hidden = !page.has_more;
}

function tagButton(tag, count) {
  const item = document.createElement("li");
  const require = document.createElement("button");
  require.type = "button";
  require.className = "tag";
  require.textContent = `${tag} (${count})`;
  require.setAttribute("aria-label", `Require tag ${tag}, ${count} assets`);
  require.addEventListener("click", () => change({ include: [...state.include, tag] }));
  const exclude = document.createElement("button");
  exclude.type = "button";
  exclude.className = "exclude";
  exclude.textContent = "−";
  exclude.title = `Exclude ${tag}`;
  exclude.setAttribute("aria-label", `Exclude tag ${tag}`);
  exclude.addEventListener("click", () => change({ exclude: [...state.exclude, tag] }));
  item.append(require, exclude);
  return item;
}

async function loadFacets(mine) {
  const params = filterParams();
  params.set("limit", "50");
  const response = await api(`/api/tags/refine?${params}`);
  if (mine !== generation || !response.ok) return;
  const counts = (await response.json()).tag_counts;
  if (mine !== generation) return;
  const chosen = new Set([...state.include, ...state.exclude]);
  tagList.replaceChildren(
    ...Object.entries(counts)
      .filter(([tag]) => !chosen.has(tag))
      .map(([tag, count]) => tagButton(tag, count)),
  );
}

function chip(tag, excluded) {
  const item = document.createElement("span");
  item.className = excluded ? "chip excluded" : "chip";
  item.textContent = excluded ? `not ${tag}` : tag;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove filter ${excluded ? "not " : ""}${tag}`);
  remove.addEventListener("click", () =>
    change(
      excluded
        ? { exclude: state.exclude.filter((t) => t !== tag) }
        : { include: state.include.filter((t) => t !== tag) },
    ),
  );
  item.append(remove);
  return item;
}

function refresh() {
  generation += 1;
  // what an export of "these assets" takes (export.js): the filters of the view
  root.exportFilter = {
    store,
    project,
    q: state.q || null,
    include_tags: state.include,
    exclude_tags: state.exclude,
  };
  offset = 0;
  grid.replaceChildren();
  form.q.value = state.q;
  form.sort.value = state.sort;
  form.order.value = state.order;
  chips.replaceChildren(
    ...state.include.map((t) => chip(t, false)),
    ...state.exclude.map((t) => chip(t, true)),
  );
  loadPage(generation);
  loadFacets(generation);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  change({ q: form.q.value.trim(), sort: form.sort.value, order: form.order.value });
});
form.sort.addEventListener("change", () => change({ sort: form.sort.value }));
form.order.addEventListener("change", () => change({ order: form.order.value }));
more.addEventListener("click", () => loadPage(generation));
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !more.hidden) loadPage(generation);
}).observe(more);
const uploads = document.querySelector("[data-upload]");
if (uploads) uploads.addEventListener("uploaded", () => refresh());
window.addEventListener("popstate", () => {
  state = readState();
  refresh();
});
refresh();

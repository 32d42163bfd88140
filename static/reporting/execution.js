// The execution page: polls its JSON endpoint while the run (or a delivery) is under way and
// redraws the status, progress, files, error, actions and deliveries in place, no reload.
(function () {
  "use strict";
  const page = document.querySelector(".execution-page[data-progress-url]");
  if (!page || page.dataset.watch !== "true") return;
  const byId = (id) => document.getElementById(id);

  function element(tag, text, attributes) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    return node;
  }

  function drawOutputs(outputs, active) {
    const list = byId("execution-outputs");
    if (!outputs.length) {
      const note = active ? "The files appear here when the run ends." : "This run left no files.";
      list.replaceChildren(element("li", note, {class: "help"}));
      return;
    }
    list.replaceChildren(...outputs.map((output) => {
      const item = element("li");
      item.append(output.url
        ? element("a", "Download " + output.format, {class: "button", href: output.url, download: ""})
        : element("span", output.format));
      const until = output.expired ? "expired " : "available until ";
      item.append(element("span", [output.filename, output.size_label, until + output.expires_label].join(" · ")));
      return item;
    }));
  }

  function drawDeliveries(deliveries) {
    if (!deliveries.length) return;
    byId("execution-deliveries").replaceChildren(...deliveries.map((delivery) => {
      const row = element("tr");
      const badge = element("span", delivery.status, {class: "execution-status status-" + delivery.status});
      const status = element("td");
      status.append(badge);
      row.append(element("td", delivery.target), status, element("td", String(delivery.attempts)),
                 element("td", delivery.sent_at), element("td", delivery.error));
      return row;
    }));
  }

  function draw(state) {
    const status = byId("execution-status");
    status.textContent = state.status_label;
    status.className = "execution-status status-" + state.status;
    byId("execution-progress").value = state.progress;
    byId("execution-progress-label").textContent = state.progress + "%";
    byId("execution-duration").textContent = state.duration || "not started";
    byId("execution-rows").textContent = state.row_count;
    const error = byId("execution-error");
    error.textContent = state.error;
    error.hidden = !state.error;
    byId("execution-retry").hidden = !state.can_retry;
    byId("execution-cancel").hidden = !state.can_cancel;
    drawOutputs(state.outputs, state.active);
    drawDeliveries(state.deliveries);
  }

  async function poll(delay) {
    try {
      const response = await fetch(page.dataset.progressUrl, {headers: {Accept: "application/json"}, credentials: "same-origin"});
      if (response.ok) {
        const state = await response.json();
        draw(state);
        if (!state.watch) return;
        // Fast while the report runs, slower while only deliveries are pending.
        delay = state.active ? 1000 : 5000;
      } else {
        delay = Math.min(delay * 2, 30000);
      }
    } catch (failure) {
      delay = Math.min(delay * 2, 30000);
    }
    window.setTimeout(() => poll(delay), delay);
  }

  window.setTimeout(() => poll(1000), 1000);
})();

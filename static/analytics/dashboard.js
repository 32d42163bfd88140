/* The analytics dashboard: fetches /api/v1/analytics/dashboard (its overview gives the cards)
   and /api/v1/analytics/overview of the range before with the session, then draws the cards and
   the charts. Every number shown, tabled or downloaded is the API's own; nothing is recomputed
   here except the cards' growth against the previous range. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const status = document.getElementById("dashboard-status");
  // Dark, distinct colours that stay apart on paper and in greyscale.
  const PALETTE = ["#1f4e79", "#c0504d", "#4f7f3a", "#8064a2", "#d08a00", "#2c8c99", "#7f6000", "#595959"];

  const CARDS = [
    { key: "total_events", label: "Events", unit: "" },
    { key: "active_users", label: "Active users", unit: "" },
    { key: "revenue", label: "Revenue", unit: "" },
    { key: "equipment_hours", label: "Equipment hours", unit: " h" },
    { key: "equipment_utilisation_percent", label: "Utilisation", unit: " %", points: true },
    { key: "inventory_cost", label: "Inventory cost", unit: "" },
    { key: "active_projects", label: "Active projects", unit: "" },
  ];

  function periodAxis() {
    return "Period start (" + config.period + ", " + config.time_zone + ")";
  }

  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

  function fixed(text) {
    return function () { return text; };
  }

  function bySeries(rows, keys, value) {
    return keys.map(function (key) {
      return { label: key, data: rows.map(function (row) { return value(row, key); }) };
    });
  }

  // One dataset per key (a category, a source…), one bar or point per period.
  function periodsBy(rows, keys, field) {
    return {
      labels: rows.map(function (row) { return row.period_start; }),
      datasets: bySeries(rows, keys, function (row, key) { return Number(row[field][key] || 0); }),
    };
  }

  // One dataset: a label and a number per row.
  function single(rows, label, name, value) {
    return {
      labels: rows.map(label),
      datasets: [{ label: name, data: rows.map(value) }],
    };
  }

  const CHARTS = [
    {
      id: "usage-events-by-category", section: "Usage", title: "Events over time by category",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Events (count)",
      build: function (d) {
        return periodsBy(d.usage.series, Object.keys(d.usage.events_by_category), "events_by_category");
      },
    },
    {
      id: "usage-active-users", section: "Usage", title: "Active users over time",
      type: "line", xTitle: periodAxis, yTitle: "Active users (people)",
      build: function (d) {
        return single(d.usage.series, function (row) { return row.period_start; }, "Active users",
          function (row) { return row.active_users; });
      },
    },
    {
      id: "usage-peak-hours", section: "Usage", title: "Events by hour of the day",
      type: "bar", xTitle: function () { return "Local hour (" + config.time_zone + ")"; },
      yTitle: "Events (count)",
      build: function (d) {
        return single(d.usage.peak_hours, function (row) { return String(row.hour).padStart(2, "0") + ":00"; },
          "Events", function (row) { return row.events; });
      },
    },
    {
      id: "usage-logins-by-weekday", section: "Usage", title: "Logins by weekday",
      type: "bar", xTitle: function () { return "Local weekday (" + config.time_zone + ")"; },
      yTitle: "Logins (count)",
      build: function (d) {
        return single(d.usage.login_patterns, function (row) { return WEEKDAYS[row.weekday]; },
          "Logins", function (row) { return row.logins; });
      },
    },
    {
      id: "equipment-utilisation", section: "Equipment", title: "Utilisation per machine",
      type: "bar", xTitle: fixed("Machine"), yTitle: "Utilisation (% of open hours)",
      build: function (d) {
        return single(d.equipment.equipment, function (row) { return row.equipment_name; }, "Utilisation (%)",
          function (row) { return row.utilisation_percent === null ? 0 : row.utilisation_percent; });
      },
    },
    {
      id: "equipment-minutes", section: "Equipment", title: "Machine minutes over time",
      type: "bar", xTitle: periodAxis, yTitle: "Minutes used (min)",
      build: function (d) {
        return single(d.equipment.series, function (row) { return row.period_start; }, "Minutes",
          function (row) { return row.minutes; });
      },
    },
    {
      id: "equipment-maintenance", section: "Equipment", title: "Maintenance share of machine minutes",
      type: "bar", xTitle: fixed("Kind of session"), yTitle: "Minutes (min)",
      build: function (d) {
        const totals = d.equipment.totals;
        return single([["In use", totals.minutes], ["Maintenance", totals.maintenance_minutes]],
          function (row) { return row[0]; }, "Minutes", function (row) { return row[1]; });
      },
    },
    {
      id: "inventory-cost-by-item", section: "Inventory", title: "Consumption cost by item (top 10)",
      type: "bar", xTitle: fixed("Item"), yTitle: "Cost (currency units)",
      build: function (d) {
        return single(d.inventory.top_items, function (row) { return row.item_name; }, "Cost",
          function (row) { return Number(row.cost_consumed); });
      },
    },
    {
      id: "inventory-waste-efficiency", section: "Inventory", title: "Waste and efficiency by item (top 10)",
      type: "bar", xTitle: fixed("Item"), yTitle: "Mean per record (%)",
      build: function (d) {
        const items = d.inventory.top_items;
        return {
          labels: items.map(function (row) { return row.item_name; }),
          datasets: [
            { label: "Waste (%)", data: items.map(function (row) { return row.mean_waste_percentage; }) },
            { label: "Efficiency (%)", data: items.map(function (row) { return row.mean_efficiency; }) },
          ],
        };
      },
    },
    {
      id: "projects-by-status", section: "Projects", title: "Projects by status",
      type: "bar", xTitle: fixed("Status"), yTitle: "Projects (count)",
      build: function (d) {
        const statuses = Object.keys(d.projects.by_status);
        return single(statuses, function (status) { return status; }, "Projects",
          function (status) { return d.projects.by_status[status]; });
      },
    },
    {
      id: "projects-bom-materials", section: "Projects", title: "Bill-of-materials cost by material (top 10)",
      type: "bar", xTitle: fixed("Material"), yTitle: "Cost (currency units)",
      build: function (d) {
        return single(d.projects.top_materials, function (row) { return row.item; }, "Cost",
          function (row) { return Number(row.cost); });
      },
    },
    {
      id: "revenue-by-source", section: "Revenue", title: "Revenue over time by source",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Revenue (currency units)",
      build: function (d) {
        return periodsBy(d.revenue.series, Object.keys(d.revenue.by_source), "by_source");
      },
    },
    {
      id: "revenue-by-payment-method", section: "Revenue", title: "Revenue over time by payment method",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Revenue (currency units)",
      build: function (d) {
        return periodsBy(d.revenue.series, Object.keys(d.revenue.by_payment_method), "by_payment_method");
      },
    },
    {
      id: "revenue-growth", section: "Revenue", title: "Revenue growth against the period before",
      type: "line", xTitle: periodAxis, yTitle: "Growth (%)",
      build: function (d) {
        return single(d.revenue.series, function (row) { return row.period_start; }, "Growth (%)",
          function (row) { return row.growth_percent; });
      },
    },
  ];

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function apiGet(url, query) {
    const params = new URLSearchParams(Object.assign({ org: config.organization }, query));
    return fetch(url + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.detail || body.message || response.statusText);
        return body;
      });
    });
  }

  function growth(card, current, previous) {
    if (current === null || previous === null) return "no comparison";
    const now = Number(current), before = Number(previous);
    if (card.points) {
      const change = now - before;
      return (change >= 0 ? "+" : "") + change.toFixed(1) + " points";
    }
    if (before === 0) return now === 0 ? "no change" : "new (nothing before)";
    const change = (100 * (now - before)) / before;
    return (change >= 0 ? "+" : "") + change.toFixed(1) + " % on the previous range";
  }

  function drawCards(current, previous) {
    const holder = document.getElementById("overview-cards");
    holder.replaceChildren();
    CARDS.forEach(function (card) {
      const value = current[card.key];
      const box = element("div", { class: "overview-card", "data-card": card.key });
      box.append(element("h3", {}, card.label));
      const number = element("p", { class: "card-value", "data-value": value === null ? "" : String(value) },
        value === null ? "—" : String(value) + card.unit);
      box.append(number, element("p", { class: "card-growth" }, growth(card, value, previous[card.key])));
      holder.append(box);
    });
  }

  function cellText(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function csvCell(value) {
    const text = cellText(value);
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function matrix(chart, data) {
    const header = [chart.xTitle()].concat(data.datasets.map(function (set) { return set.label; }));
    const rows = data.labels.map(function (label, index) {
      return [label].concat(data.datasets.map(function (set) { return set.data[index]; }));
    });
    return [header].concat(rows);
  }

  function tableOf(cells) {
    const table = element("table");
    const head = element("thead"), body = element("tbody"), top = element("tr");
    cells[0].forEach(function (cell) { top.append(element("th", { scope: "col" }, cell)); });
    head.append(top);
    cells.slice(1).forEach(function (row) {
      const line = element("tr");
      row.forEach(function (cell, index) { line.append(element(index ? "td" : "th", index ? {} : { scope: "row" }, cellText(cell))); });
      body.append(line);
    });
    table.append(head, body);
    return table;
  }

  function csvLink(chart, cells) {
    const text = cells.map(function (row) { return row.map(csvCell).join(","); }).join("\r\n") + "\r\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const name = chart.id + "-" + config.start_date + "-" + config.end_date + ".csv";
    return element("a", { class: "button csv-download", href: url, download: name }, "Download CSV");
  }

  function isEmpty(data) {
    return data.labels.length === 0 || data.datasets.every(function (set) {
      return set.data.every(function (value) { return !value; });
    });
  }

  function chartOptions(chart) {
    const axis = function (title) { return { title: { display: true, text: title }, stacked: !!chart.stacked }; };
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { title: { display: false }, legend: { position: "bottom" } },
      scales: { x: axis(chart.xTitle()), y: Object.assign(axis(chart.yTitle), { beginAtZero: true }) },
    };
  }

  function drawChart(chart, answer, holder) {
    const data = chart.build(answer);
    data.datasets.forEach(function (set, index) {
      const colour = PALETTE[index % PALETTE.length];
      Object.assign(set, { backgroundColor: colour, borderColor: colour });
    });
    const figure = element("figure", { class: "dashboard-chart", id: "chart-" + chart.id, "data-chart": chart.id });
    figure.append(element("h3", {}, chart.section + ": " + chart.title));
    if (isEmpty(data)) {
      figure.classList.add("is-empty");
      figure.append(element("p", { class: "chart-empty" }, "No data in this range."));
      holder.append(figure);
      return;
    }
    const frame = element("div", { class: "chart-frame" });
    const canvas = element("canvas", { role: "img", "aria-label": chart.title + ", " + chart.yTitle });
    frame.append(canvas);
    const cells = matrix(chart, data);
    const details = element("details");
    details.append(element("summary", {}, "Table of these numbers"), tableOf(cells));
    figure.append(frame, element("figcaption", {}, "Times in " + config.time_zone + "."), details, csvLink(chart, cells));
    holder.append(figure);
    new window.Chart(canvas, { type: chart.type, data: data, options: chartOptions(chart) });
  }

  function hasActivity(answer) {
    return answer.usage.totals.events > 0 || answer.equipment.totals.sessions > 0 ||
      answer.revenue.totals.transactions > 0 || answer.inventory.totals.items > 0 ||
      answer.projects.totals.projects > 0;
  }

  function draw(answers) {
    const dashboard = answers[0], current = dashboard.overview, previous = answers[1];
    document.getElementById("mock-badge").hidden = !dashboard.is_mock;
    drawCards(current, previous);
    const holder = document.getElementById("dashboard-charts");
    holder.replaceChildren();
    document.getElementById("dashboard-empty").hidden = hasActivity(dashboard);
    CHARTS.forEach(function (chart) { drawChart(chart, dashboard, holder); });
    status.textContent = "Computed " + new Date(dashboard.computed_at || Date.now()).toLocaleString() + ".";
    document.body.dataset.dashboardReady = "true";
    // The moment the page is usable, for the browser test's figures.
    performance.mark("dashboard-ready");
  }

  function load() {
    const range = { start_date: config.start_date, end_date: config.end_date };
    // The dashboard's answer holds this range's overview: asking for it again would compute it
    // twice when the cache is cold.
    Promise.all([
      apiGet(config.dashboard_url, Object.assign({ period: config.period }, range)),
      apiGet(config.overview_url, { start_date: config.previous_start_date, end_date: config.previous_end_date }),
    ]).then(draw, function (error) {
      status.textContent = "The analytics could not be loaded: " + error.message;
      status.classList.add("errornote");
    });
  }

  // --- reports: asked for with the session, followed until their file is ready ---------------

  const POLL_MS = 2000;
  const FINISHED = ["succeeded", "failed", "cancelled"];

  function withOrganization(url) {
    const address = new URL(url, window.location.href);
    address.searchParams.set("org", config.organization);
    return address.pathname + address.search;
  }

  function reportCall(url, options) {
    return fetch(withOrganization(url), Object.assign({ credentials: "same-origin" }, options))
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || body.message || response.statusText);
          return body;
        });
      });
  }

  function showReport(item, report) {
    const name = report.report_type + " report (" + report.format.toUpperCase() + ", " +
      report.filters.start_date + " to " + report.filters.end_date + ")";
    item.dataset.status = report.status;
    item.replaceChildren(element("span", {}, name + ": "));
    if (report.status === "succeeded") {
      item.append(element("a", { class: "button report-download", href: withOrganization(report.links.download), download: "" },
        "Download " + report.format.toUpperCase()));
    } else if (FINISHED.indexOf(report.status) >= 0) {
      item.append(element("span", { class: "report-failed" }, report.status + (report.error ? ": " + report.error : "")));
    } else {
      item.append(element("span", { class: "report-progress" }, report.status + ", " + report.progress + " %"));
    }
  }

  function follow(item, report) {
    showReport(item, report);
    if (FINISHED.indexOf(report.status) >= 0) return;
    window.setTimeout(function () {
      reportCall(report.links.self, { headers: { Accept: "application/json" } }).then(
        function (next) { follow(item, next); },
        function (error) { item.append(element("span", { class: "report-failed" }, " " + error.message)); }
      );
    }, POLL_MS);
  }

  function requestReport(button) {
    const item = element("li", {}, "Asking for the " + button.dataset.reportType + " report…");
    document.getElementById("report-requests").prepend(item);
    reportCall(config.report_request_url, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": config.csrf_token },
      body: JSON.stringify({
        report_type: button.dataset.reportType,
        format: button.dataset.reportFormat,
        filters: { start_date: config.start_date, end_date: config.end_date },
      }),
    }).then(function (report) { follow(item, report); }, function (error) {
      item.replaceChildren(element("span", { class: "report-failed" }, "The report could not be requested: " + error.message));
    });
  }

  document.querySelectorAll("[data-report-type]").forEach(function (button) {
    button.addEventListener("click", function () { requestReport(button); });
  });

  // Picking a range, period or organisation reloads with it in the URL (bookmarkable).
  document.getElementById("dashboard-controls").addEventListener("change", function (event) {
    event.currentTarget.requestSubmit();
  });
  load();
})();

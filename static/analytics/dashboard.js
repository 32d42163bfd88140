/* The analytics dashboard: fetches /api/v1/analytics/dashboard (its overview gives the cards)
   and /api/v1/analytics/overview of the range before with the session, then draws the cards and
   each section's charts (charts.js). Every number shown, tabled or downloaded is the API's own; nothing is
   recomputed here except the cards' growth against the previous range. */
(function () {
  "use strict";

  const dashboard = window.AnalyticsDashboard;
  const config = dashboard.config, element = dashboard.element;
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

  // --- a chart's numbers as a table and a CSV ------------------------------------------------

  function cellText(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function csvCell(value) {
    const text = cellText(value);
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function labelsByDatasets(chart, data) {
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

  // --- drawing ---------------------------------------------------------------------------------

  function pointValue(value) {
    return value !== null && typeof value === "object" ? value.v : value;
  }

  function isEmpty(data) {
    return data.datasets.every(function (set) {
      return set.data.every(function (value) { return !pointValue(value); });
    });
  }

  // Axes of things counted in whole units tick in whole units.
  const COUNTED = /\((count|people)\)$/;

  function chartOptions(chart) {
    const axis = function (title) {
      return { title: { display: true, text: title }, stacked: !!chart.stacked, ticks: COUNTED.test(title) ? { precision: 0 } : {} };
    };
    const options = {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { title: { display: false }, legend: { position: "bottom" } },
      scales: { x: axis(chart.xTitle()), y: Object.assign(axis(chart.yTitle), { beginAtZero: true }) },
    };
    if (chart.y2Title) {
      options.scales.y2 = Object.assign(axis(chart.y2Title), { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } });
    }
    if (chart.options) chart.options(options, chart);
    return options;
  }

  function colour(data) {
    data.datasets.forEach(function (set, index) {
      if (set.backgroundColor) return;
      const shade = PALETTE[index % PALETTE.length];
      Object.assign(set, { backgroundColor: shade, borderColor: shade });
    });
  }

  function drawChart(chart, answer, holder) {
    const data = chart.build(answer);
    const figure = element("figure", { class: "dashboard-chart", id: "chart-" + chart.id, "data-chart": chart.id });
    figure.append(element("h3", {}, chart.title));
    holder.append(figure);
    if (isEmpty(data)) {
      figure.classList.add("is-empty");
      figure.append(element("p", { class: "chart-empty" }, "No data in this range."));
      return;
    }
    colour(data);
    const frame = element("div", { class: "chart-frame" });
    const canvas = element("canvas", { role: "img", "aria-label": chart.title + ", " + chart.yTitle });
    frame.append(canvas);
    figure.append(frame);
    if (chart.legend) figure.append(chart.legend(answer, element));
    const cells = chart.table ? chart.table(answer) : labelsByDatasets(chart, data);
    const details = element("details");
    details.append(element("summary", {}, "Table of these numbers"), tableOf(cells));
    figure.append(element("figcaption", {}, "Times in " + config.time_zone + "."), details, csvLink(chart, cells));
    new window.Chart(canvas, { type: chart.type, data: data, options: chartOptions(chart) });
  }

  function hasActivity(answer) {
    return answer.usage.totals.events > 0 || answer.equipment.totals.sessions > 0 ||
      answer.revenue.totals.transactions > 0 || answer.inventory.totals.items > 0 ||
      answer.projects.totals.projects > 0;
  }

  function draw(answers) {
    const answer = answers[0], previous = answers[1];
    document.getElementById("mock-badge").hidden = !answer.is_mock;
    drawCards(answer.overview, previous);
    document.getElementById("dashboard-empty").hidden = hasActivity(answer);
    document.querySelectorAll("[data-charts]").forEach(function (holder) { holder.replaceChildren(); });
    dashboard.CHARTS.forEach(function (chart) {
      drawChart(chart, answer, document.querySelector("[data-charts=" + chart.section + "]"));
    });
    status.textContent = "Computed " + new Date(answer.computed_at || Date.now()).toLocaleString() + ".";
    document.body.dataset.dashboardReady = "true";
    // The moment the page is usable, for the browser test's figures.
    performance.mark("dashboard-ready");
  }

  function load() {
    const range = { start_date: config.start_date, end_date: config.end_date };
    // The dashboard's answer holds this range's overview: asking for it again would compute it
    // twice when the cache is cold.
    Promise.all([
      dashboard.callJson(config.dashboard_url, Object.assign({ period: config.period }, range)),
      dashboard.callJson(config.overview_url, { start_date: config.previous_start_date, end_date: config.previous_end_date }),
    ]).then(draw, function (error) {
      status.textContent = "The analytics could not be loaded: " + error.message;
      status.classList.add("errornote");
    });
  }

  load();
})();

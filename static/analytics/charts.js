/* The dashboard's charts, one definition each: its section, title, axis titles with units, and
   `build`, which turns the API's answer into Chart.js data. Optional: `table` (the cells of the
   table and CSV, when they are not the labels × datasets), `options` (changes to the shared
   Chart.js options) and `legend` (an HTML legend drawn under the canvas). */
(function () {
  "use strict";

  const config = window.AnalyticsDashboard.config;
  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const HOURS = Array.from({ length: 24 }, function (_, hour) { return String(hour).padStart(2, "0") + ":00"; });
  // The heatmap's scale: one hue from light to dark, so it reads in greyscale and on paper.
  const HEAT_LIGHT = [239, 243, 255], HEAT_DARK = [8, 48, 107];

  function periodAxis() {
    return "Period start (" + config.period + ", " + config.time_zone + ")";
  }

  function localAxis(name) {
    return function () { return name + " (" + config.time_zone + ")"; };
  }

  function fixed(text) {
    return function () { return text; };
  }

  // One dataset per key (a category, a source…), one bar or point per period.
  function periodsBy(rows, keys, field) {
    return {
      labels: rows.map(function (row) { return row.period_start; }),
      datasets: keys.map(function (key) {
        return { label: key, data: rows.map(function (row) { return Number(row[field][key] || 0); }) };
      }),
    };
  }

  // One dataset: a label and a number per row.
  function single(rows, label, name, value) {
    return { labels: rows.map(label), datasets: [{ label: name, data: rows.map(value) }] };
  }

  function periodStart(row) {
    return row.period_start;
  }

  function heatColour(share) {
    const rgb = HEAT_LIGHT.map(function (light, index) {
      return Math.round(light + (HEAT_DARK[index] - light) * share);
    });
    return "rgb(" + rgb.join(", ") + ")";
  }

  function mostEvents(cells) {
    return cells.reduce(function (most, cell) { return Math.max(most, cell.events); }, 0);
  }

  function weekdayHourCells(cells) {
    const most = Math.max(1, mostEvents(cells));
    const size = function (count, axis) {
      return function (context) { return ((context.chart.chartArea || {})[axis] || 0) / count - 1; };
    };
    return {
      datasets: [{
        label: "Events",
        data: cells.map(function (cell) { return { x: HOURS[cell.hour], y: WEEKDAYS[cell.weekday], v: cell.events }; }),
        backgroundColor: function (context) { return heatColour(context.raw ? context.raw.v / most : 0); },
        borderColor: "#ffffff",
        borderWidth: 1,
        width: size(24, "width"),
        height: size(7, "height"),
      }],
    };
  }

  function weekdayHourTable(cells, corner) {
    const rows = WEEKDAYS.map(function (name) { return [name]; });
    cells.forEach(function (cell) { rows[cell.weekday][cell.hour + 1] = cell.events; });
    return [[corner].concat(HOURS)].concat(rows);
  }

  function weekdayHourOptions(options, chart) {
    const axis = function (labels, title) {
      return { type: "category", labels: labels, offset: true, grid: { display: false }, title: { display: true, text: title } };
    };
    // Monday on top, as a calendar reads: the matrix type reverses y by default, and a vertical
    // category axis already lists its labels top down.
    options.scales = { x: axis(HOURS, chart.xTitle()), y: Object.assign(axis(WEEKDAYS, chart.yTitle), { reverse: false }) };
    options.plugins.legend = { display: false };
    options.plugins.tooltip = {
      callbacks: {
        title: function (items) { return items[0].raw.y + " " + items[0].raw.x; },
        label: function (item) { return item.raw.v + " events"; },
      },
    };
  }

  function weekdayHourLegend(d, element) {
    const most = mostEvents(d.usage.peak_hours_by_weekday);
    const legend = element("div", { class: "heat-legend", "aria-label": "Colour scale: events per weekday and hour" });
    legend.append(element("span", {}, "0 events"));
    [0, 0.25, 0.5, 0.75, 1].forEach(function (share) {
      const swatch = element("span", { class: "heat-swatch", title: Math.round(share * most) + " events" });
      swatch.style.backgroundColor = heatColour(share);
      legend.append(swatch);
    });
    legend.append(element("span", {}, most + " events (busiest hour)"));
    return legend;
  }

  const CHARTS = [
    {
      id: "usage-events-by-category", section: "usage", title: "Events over time by category",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Events (count)",
      build: function (d) {
        return periodsBy(d.usage.series, Object.keys(d.usage.events_by_category), "events_by_category");
      },
    },
    {
      id: "usage-active-users", section: "usage", title: "Active users over time",
      type: "line", xTitle: periodAxis, yTitle: "Active users (people)",
      build: function (d) {
        return single(d.usage.series, periodStart, "Active users", function (row) { return row.active_users; });
      },
    },
    {
      id: "usage-peak-hours-by-weekday", section: "usage", title: "Events by weekday and hour of the day",
      type: "matrix", xTitle: localAxis("Local hour"), yTitle: "Local weekday",
      build: function (d) { return weekdayHourCells(d.usage.peak_hours_by_weekday); },
      table: function (d) { return weekdayHourTable(d.usage.peak_hours_by_weekday, "Local weekday / hour (" + config.time_zone + ")"); },
      options: weekdayHourOptions,
      legend: weekdayHourLegend,
    },
    {
      id: "usage-peak-hours", section: "usage", title: "Events by hour of the day",
      type: "bar", xTitle: localAxis("Local hour"), yTitle: "Events (count)",
      build: function (d) {
        return single(d.usage.peak_hours, function (row) { return HOURS[row.hour]; }, "Events",
          function (row) { return row.events; });
      },
    },
    {
      id: "usage-logins-by-weekday", section: "usage", title: "Logins by weekday",
      type: "bar", xTitle: localAxis("Local weekday"), yTitle: "Logins (count)",
      build: function (d) {
        return single(d.usage.login_patterns, function (row) { return WEEKDAYS[row.weekday]; },
          "Logins", function (row) { return row.logins; });
      },
    },
    {
      id: "equipment-utilisation", section: "equipment", title: "Utilisation per machine",
      type: "bar", xTitle: fixed("Machine"), yTitle: "Utilisation (% of open hours)",
      build: function (d) {
        return single(d.equipment.equipment, function (row) { return row.equipment_name; }, "Utilisation (%)",
          function (row) { return row.utilisation_percent === null ? 0 : row.utilisation_percent; });
      },
    },
    {
      id: "equipment-sessions-minutes", section: "equipment", title: "Sessions and minutes over time",
      type: "bar", xTitle: periodAxis, yTitle: "Minutes used (min)", y2Title: "Sessions (count)",
      build: function (d) {
        const rows = d.equipment.series;
        return {
          labels: rows.map(periodStart),
          datasets: [
            { label: "Minutes used (min)", data: rows.map(function (row) { return row.minutes; }), yAxisID: "y" },
            { label: "Sessions (count)", type: "line", data: rows.map(function (row) { return row.sessions; }), yAxisID: "y2" },
          ],
        };
      },
    },
    {
      id: "equipment-maintenance", section: "equipment", title: "Maintenance share of machine minutes",
      type: "bar", xTitle: fixed("Kind of session"), yTitle: "Minutes (min)",
      build: function (d) {
        const totals = d.equipment.totals;
        return single([["In use", totals.minutes], ["Maintenance", totals.maintenance_minutes]],
          function (row) { return row[0]; }, "Minutes", function (row) { return row[1]; });
      },
    },
    {
      id: "inventory-cost-by-item", section: "inventory", title: "Consumption cost by item (top 10)",
      type: "bar", xTitle: fixed("Item"), yTitle: "Cost (currency units)",
      build: function (d) {
        return single(d.inventory.top_items, function (row) { return row.item_name; }, "Cost",
          function (row) { return Number(row.cost_consumed); });
      },
    },
    {
      id: "inventory-waste-efficiency", section: "inventory", title: "Waste and efficiency by item (top 10)",
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
      id: "inventory-reorders-by-item", section: "inventory", title: "Reorders by item (most first)",
      type: "bar", xTitle: fixed("Item"), yTitle: "Reorders (count)",
      build: function (d) {
        return single(d.inventory.reorders, function (row) { return row.item_name; }, "Reorders",
          function (row) { return row.reorders; });
      },
    },
    {
      id: "inventory-reorders-over-time", section: "inventory", title: "Reorders over time",
      type: "bar", xTitle: periodAxis, yTitle: "Reorders (count)",
      build: function (d) {
        return single(d.inventory.series, periodStart, "Reorders", function (row) { return row.reorders; });
      },
    },
    {
      id: "projects-by-status", section: "projects", title: "Projects by status",
      type: "bar", xTitle: fixed("Status"), yTitle: "Projects (count)",
      build: function (d) {
        const statuses = Object.keys(d.projects.by_status);
        return single(statuses, function (status) { return status; }, "Projects",
          function (status) { return d.projects.by_status[status]; });
      },
    },
    {
      id: "projects-bom-materials", section: "projects", title: "Bill-of-materials cost by material (top 10)",
      type: "bar", xTitle: fixed("Material"), yTitle: "Cost (currency units)",
      build: function (d) {
        return single(d.projects.top_materials, function (row) { return row.item; }, "Cost",
          function (row) { return Number(row.cost); });
      },
    },
    {
      id: "revenue-by-source", section: "revenue", title: "Revenue over time by source",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Revenue (currency units)",
      build: function (d) {
        return periodsBy(d.revenue.series, Object.keys(d.revenue.by_source), "by_source");
      },
    },
    {
      id: "revenue-by-payment-method", section: "revenue", title: "Revenue over time by payment method",
      type: "bar", stacked: true, xTitle: periodAxis, yTitle: "Revenue (currency units)",
      build: function (d) {
        return periodsBy(d.revenue.series, Object.keys(d.revenue.by_payment_method), "by_payment_method");
      },
    },
    {
      id: "revenue-growth", section: "revenue", title: "Revenue growth against the period before",
      type: "line", xTitle: periodAxis, yTitle: "Growth (%)",
      build: function (d) {
        return single(d.revenue.series, periodStart, "Growth (%)", function (row) { return row.growth_percent; });
      },
    },
  ];

  window.AnalyticsDashboard.CHARTS = CHARTS;
})();

// Draws the Overview's per-day chart from the page's JSON data block. Progressive
// enhancement: without JavaScript the same numbers are in the "Per day" table.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var canvas = document.getElementById("daily-chart");
  if (!source || !canvas || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var dollars = function (micro) { return micro / 1e6; };
  var reduceMotion = window.matchMedia &&
    window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.days.map(function (day) { return day.slice(8); }),
      datasets: [
        {
          label: "Savings (USD)",
          data: data.savings_micro_usd.map(dollars),
          backgroundColor: "#1b7f4b",
          borderColor: "#0e4d2c",
          borderWidth: 1
        },
        {
          label: "Actual cost (USD)",
          data: data.actual_micro_usd.map(dollars),
          backgroundColor: "#9aa5b1",
          borderColor: "#3e4c59",
          borderWidth: 1
        }
      ]
    },
    options: {
      animation: reduceMotion ? false : { duration: 300 },
      maintainAspectRatio: false,
      responsive: true,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { title: { display: true, text: "Day of month (UTC)" } },
        y: { beginAtZero: true, title: { display: true, text: "USD" } }
      },
      plugins: {
        tooltip: {
          callbacks: {
            title: function (items) { return data.days[items[0].dataIndex]; },
            label: function (item) {
              return item.dataset.label + ": $" + item.parsed.y.toFixed(4);
            }
          }
        }
      }
    }
  });
})();

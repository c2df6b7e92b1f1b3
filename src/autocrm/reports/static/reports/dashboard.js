// The dashboard's charts: the 12-month trend (car count bars, sales line), rankings as
// horizontal bars (a click on a bar opens the list behind it when the row has a url), the
// low-score reasons as a pie and popular services by revenue and by margin.
(function () {
  function pick(obj, path) {
    return path.split(".").reduce(function (o, k) { return o ? o[k] : undefined; }, obj);
  }
  function bars(box, rows, label, valueKey) {
    var chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 110, right: 24, top: 16, bottom: 24 },
      xAxis: { type: "value" },
      yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return r.label; }) },
      series: [{
        name: label,
        type: "bar",
        cursor: rows.some(function (r) { return r.url; }) ? "pointer" : "default",
        data: rows.map(function (r) { return Number(r[valueKey]); })
      }]
    });
    chart.on("click", function (p) {
      var row = rows[p.dataIndex];
      if (row && row.url) window.location.href = row.url;
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function pie(box, rows) {
    var chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "item" },
      series: [{
        type: "pie",
        radius: ["35%", "65%"],
        data: rows.map(function (r) { return { name: r.label, value: r.value }; })
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function trend() {
    var box = document.getElementById("trend-chart");
    var data = document.getElementById("trend-data");
    if (!box || !data) return;
    var rows = JSON.parse(data.textContent);
    var chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [box.dataset.carsLabel, box.dataset.salesLabel] },
      grid: { left: 48, right: 64, bottom: 32 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.month; }) },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
      series: [
        { name: box.dataset.carsLabel, type: "bar", data: rows.map(function (r) { return r.cars; }) },
        { name: box.dataset.salesLabel, type: "line", yAxisIndex: 1, data: rows.map(function (r) { return Number(r.sales); }) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function draw() {
    if (typeof echarts === "undefined") return;
    trend();
    var data = document.getElementById("dashboard-data");
    if (!data) return;
    var d = JSON.parse(data.textContent);
    document.querySelectorAll(".dashboard-bars").forEach(function (box) {
      var rows = pick(d, box.dataset.series) || [];
      if (rows.length) bars(box, rows, box.dataset.label, box.dataset.value || "value");
    });
    var box = document.getElementById("reasons-chart");
    if (box && d.reasons.length) pie(box, d.reasons);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();

// The drill-down's charts: regions/stores compared, advisors by sales, technicians by
// efficiency (a click on a bar opens what is behind it) and the 12-month trend per child.
(function () {
  function bars(box, rows, label, valueKey) {
    var chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 100, right: 24, top: 16, bottom: 24 },
      xAxis: { type: "value" },
      yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return r.label; }) },
      series: [{ name: label, type: "bar", data: rows.map(function (r) { return Number(r[valueKey]); }) }]
    });
    chart.on("click", function (p) {
      var row = rows[p.dataIndex];
      if (row && row.url) window.location.href = row.url;
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function draw() {
    var data = document.getElementById("drill-data");
    if (!data || typeof echarts === "undefined") return;
    var d = JSON.parse(data.textContent);
    var box = document.getElementById("compare-chart");
    if (box && d.compare.length) bars(box, d.compare, box.dataset.salesLabel, "sales");
    box = document.getElementById("advisor-chart");
    if (box && d.advisors.length) bars(box, d.advisors, box.dataset.label, "value");
    box = document.getElementById("technician-chart");
    if (box && d.technicians.length) bars(box, d.technicians, box.dataset.label, "value");
    box = document.getElementById("drill-trend-chart");
    if (box) {
      var chart = echarts.init(box);
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: { type: "scroll", data: d.trend.series.map(function (s) { return s.name; }) },
        grid: { left: 48, right: 24, bottom: 32 },
        xAxis: { type: "category", data: d.trend.months },
        yAxis: { type: "value", minInterval: 1 },
        series: d.trend.series.map(function (s) { return { name: s.name, type: "line", data: s.cars }; })
      });
      window.addEventListener("resize", function () { chart.resize(); });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();

// The dashboard's 12-month trend: car count (bars) and sales excluding VAT (line).
(function () {
  function draw() {
    var box = document.getElementById("trend-chart");
    var data = document.getElementById("trend-data");
    if (!box || !data || typeof echarts === "undefined") return;
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
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();

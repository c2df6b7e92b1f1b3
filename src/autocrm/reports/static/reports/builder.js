// Saved reports' charts (report builder): each .builder-chart box names the JSON script with
// its categories and series; bar / line / pie as the report says. Deferred scripts run before
// DOMContentLoaded, so drawing then finds echarts whichever script tag came first.
(function () {
  function option(data) {
    if (data.type === "pie") {
      var s = data.series[0] || { name: "", data: [] };
      return {
        tooltip: { trigger: "item" },
        legend: { type: "scroll", bottom: 0 },
        series: [{
          name: s.name, type: "pie", radius: "65%",
          data: data.categories.map(function (c, i) { return { name: c, value: s.data[i] }; })
        }]
      };
    }
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", data: data.series.map(function (s) { return s.name; }) },
      grid: { left: 56, right: 24, bottom: 40 },
      xAxis: { type: "category", data: data.categories },
      yAxis: { type: "value" },
      series: data.series.map(function (s) {
        return { name: s.name, type: data.type === "line" ? "line" : "bar", data: s.data };
      })
    };
  }
  function draw() {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll(".builder-chart").forEach(function (box) {
      if (box.dataset.drawn) return;
      var source = document.getElementById(box.dataset.source);
      if (!source) return;
      box.dataset.drawn = "1";
      var chart = echarts.init(box);
      chart.setOption(option(JSON.parse(source.textContent)));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "complete") draw();
  else document.addEventListener("DOMContentLoaded", draw);
})();

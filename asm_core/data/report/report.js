(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("asm-data").textContent);
  var esc = function (v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  };
  var row = function (k, v) { return v === null || v === undefined || v === "" ? "" : "<tr><th>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>"; };
  var map = L.map("map", {preferCanvas: false, attributionControl: false});
  var overlays = {};
  var bounds = L.latLngBounds([]);
  var latest = {};  // the latest look of each place is shown at first, the others on demand
  data.quicklooks.forEach(function (q) {
    var layer = L.imageOverlay(q.src, q.bounds, {opacity: 0.9});
    overlays["Quicklook " + q.date + " " + q.item] = layer;
    bounds.extend(q.bounds);
    var place = JSON.stringify(q.bounds);
    if (!latest[place] || latest[place].date < q.date) { latest[place] = {date: q.date, layer: layer}; }
  });
  Object.keys(latest).forEach(function (place) { latest[place].layer.addTo(map); });
  var rendered = 0;
  var detectionPopup = function (p) {
    return "<b>" + esc(p.cls) + "</b> · " + esc(p.date) + "<table>" +
      row("area (ha)", p.area_ha) + row("confidence", p.confidence) + row("cues", (p.cues || []).join(", ")) +
      row("country", p.country) + row("NDVI", p.ndvi) + row("BSI", p.bsi) + row("ferric", p.ferric_iron) +
      row("NDTI", p.ndti) + row("site", p.site) + row("item", p.item) + "</table>";
  };
  var detections = L.geoJSON(data.detections, {
    style: function (f) { var c = data.classColours[f.properties.cls] || "#555"; return {color: c, weight: 1.5, fillColor: c, fillOpacity: 0.35, className: "asm-detection"}; },
    onEachFeature: function (f, layer) { rendered += 1; layer.bindPopup(detectionPopup(f.properties)); }
  });
  var shown = detections;
  if (data.simplified) {
    var centroids = L.layerGroup(data.detections.features.map(function (f) {
      var c = data.classColours[f.properties.cls] || "#555";
      return L.circleMarker([f.properties.lat, f.properties.lon], {radius: 3, color: c, weight: 1, className: "asm-centroid"}).bindPopup(detectionPopup(f.properties));
    }));
    shown = L.layerGroup([centroids]);
    var byZoom = function () {
      if (map.getZoom() >= 13) { shown.removeLayer(centroids); shown.addLayer(detections); }
      else { shown.removeLayer(detections); shown.addLayer(centroids); }
    };
    map.on("zoomend", byZoom);
    map.whenReady(byZoom);
  }
  shown.addTo(map);
  overlays["Detections (by class)"] = shown;
  if (detections.getLayers().length) { bounds.extend(detections.getBounds()); }
  var chart = document.getElementById("site-chart");
  var drawSite = function (id) {
    var points = data.series[id] || [];
    if (!points.length) { chart.innerHTML = '<p class="empty">No observations for ' + esc(id) + "</p>"; return; }
    var w = 420, h = 160, pad = 34, top = Math.max.apply(null, points.map(function (p) { return p[1] || 0; })) || 1;
    var t0 = Date.parse(points[0][0]), span = Math.max(1, Date.parse(points[points.length - 1][0]) - t0);
    var xy = function (p) { return [pad + (Date.parse(p[0]) - t0) / span * (w - 2 * pad), h - pad - (p[1] || 0) / top * (h - 2 * pad)]; };
    var svg = '<svg class="chart" viewBox="0 0 ' + w + " " + h + '"><text x="' + pad + '" y="14" class="title">Site ' + esc(id) + " detected area (ha)</text>";
    svg += '<polyline fill="none" stroke="#444" stroke-width="1.5" points="' + points.map(function (p) { return xy(p).join(","); }).join(" ") + '"/>';
    points.forEach(function (p) { var c = xy(p); svg += '<circle cx="' + c[0] + '" cy="' + c[1] + '" r="4" fill="' + (data.stateColours[p[2]] || "#777") + '"><title>' + esc(p[0] + ": " + p[1] + " ha, " + p[2]) + "</title></circle>"; });
    svg += '<text x="' + pad + '" y="' + (h - pad + 14) + '" class="tick">' + esc(points[0][0]) + '</text><text x="' + (w - pad) + '" y="' + (h - pad + 14) + '" class="tick" text-anchor="end">' + esc(points[points.length - 1][0]) + "</text>";
    svg += '<text x="' + (pad - 4) + '" y="' + (pad + 4) + '" class="tick" text-anchor="end">' + top.toFixed(1) + "</text></svg>";
    chart.innerHTML = svg;
  };
  if (data.sites.features.length) {
    var sites = L.geoJSON(data.sites, {
      style: function (f) { var c = data.stateColours[f.properties.state] || "#555"; return {color: c, weight: 2.5, fill: false, dashArray: f.properties.priority ? null : "4 3", className: "asm-site"}; },
      onEachFeature: function (f, layer) {
        var p = f.properties, ctx = "";
        Object.keys(p.context || {}).forEach(function (k) { ctx += row(k, p.context[k]); });
        layer.bindPopup("<b>site " + esc(p.id) + "</b> · " + esc(p.state) + "<table>" + row("seen", p.first + " – " + p.last + " (" + p.detections + " detections)") +
          row("area max / latest (ha)", p.max_ha + " / " + p.latest_ha) + row("country", p.country) + row("high priority", p.priority ? "yes" : "") +
          row("possibly informal", p.informal ? "yes" : "") + row("ferric / clay anomaly", p.ferric === null ? "" : p.ferric + " / " + p.clay) + ctx + "</table>" +
          (p.chip ? '<a href="' + esc(p.chip) + '" target="_blank"><img class="chip" src="' + esc(p.chip) + '" alt="before and after: ' + esc(p.chip_dates) + '"></a><div class="chip-dates">' + esc(p.chip_dates) + "</div>" : ""),
          {maxWidth: 420});
        layer.on("click", function () { drawSite(p.id); });
      }
    }).addTo(map);
    overlays["Sites (by state)"] = sites;
    bounds.extend(sites.getBounds());
  }
  L.control.layers(null, overlays, {collapsed: Object.keys(overlays).length > 6}).addTo(map);
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "legend"), html = "<b>Detections</b><br>";
    Object.keys(data.classColours).forEach(function (k) { html += '<i style="background:' + data.classColours[k] + '"></i>' + esc(k) + "<br>"; });
    if (data.sites.features.length) {
      html += "<b>Sites (outline)</b><br>";
      Object.keys(data.stateColours).forEach(function (k) { html += '<i style="border:2px solid ' + data.stateColours[k] + '"></i>' + esc(k) + "<br>"; });
    }
    div.innerHTML = html;
    return div;
  };
  legend.addTo(map);
  if (bounds.isValid()) { map.fitBounds(bounds, {padding: [10, 10]}); } else { map.setView([0, 20], 3); }
  var cov = data.coverage, c = "<table>" + row("tile-dates", cov.tile_dates) + row("ok", cov.statuses.ok) + row("no data", cov.statuses.no_data) +
    row("failed", cov.statuses.failed) + row("valid area (km²)", cov.valid_km2) + "</table>";
  if (cov.failures.length) { c += "<h2>Failures</h2><table>" + cov.failures.map(function (f) { return row(f.item, f.error); }).join("") + "</table>"; }
  document.getElementById("coverage").innerHTML = c;
  var columns = [["site", "site"], ["country", "country"], ["state", "state"], ["max_ha", "max ha"], ["latest_ha", "latest ha"], ["growth", "ha / 30 days"], ["first", "first seen"], ["last", "last seen"], ["flags", "flags"]];
  var tableRows = data.table.slice(), sortKey = "max_ha", descending = true;
  var renderTable = function () {
    tableRows.sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      if (x === y) { return 0; } if (x === null) { return 1; } if (y === null) { return -1; }
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    var h = "<table id='sites'><thead><tr>" + columns.map(function (c) { return "<th data-key='" + c[0] + "'" + (c[0] === sortKey ? " class='sorted'" : "") + ">" + esc(c[1]) + "</th>"; }).join("") + "</tr></thead><tbody>";
    tableRows.forEach(function (r) { h += "<tr>" + columns.map(function (c) { var v = r[c[0]]; return "<td" + (typeof v === "number" ? " class='num'" : "") + ">" + esc(v) + "</td>"; }).join("") + "</tr>"; });
    document.getElementById("sites-table").innerHTML = tableRows.length ? h + "</tbody></table>" : '<p class="empty">No sites.</p>';
    Array.prototype.forEach.call(document.querySelectorAll("#sites th"), function (th) {
      th.addEventListener("click", function () { var k = th.getAttribute("data-key"); descending = k === sortKey ? !descending : true; sortKey = k; renderTable(); });
    });
  };
  renderTable();
  window.ASM_MAP = map;
  window.ASM_REPORT = {detections: data.detections.features.length, sites: data.sites.features.length, rendered: rendered, simplified: data.simplified};
})();

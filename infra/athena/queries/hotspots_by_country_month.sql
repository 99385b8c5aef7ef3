-- Hotspots: where and when mining scars were detected — scar area (ha) and count by country and month.
-- @param min_confidence (double) = 0.5 : only detections at least this confident (0..1)
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
SELECT
  coalesce(country_iso3, 'none') AS country_iso3,
  date_format(acquired, '%Y-%m') AS month,
  count(*) AS scars,
  count(DISTINCT site_id) AS sites,
  round(sum(area_m2) / 10000.0, 2) AS scar_area_ha
FROM detections
WHERE class = 'mining_scar'
  AND confidence >= ?
  AND dt BETWEEN ? AND ?
GROUP BY 1, 2
ORDER BY scar_area_ha DESC, country_iso3, month

-- Area trend per country: mining-scar area (ha) and sites per country and acquisition date.
-- @param min_confidence (double) = 0.5 : only detections at least this confident (0..1)
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
SELECT coalesce(country_iso3, 'none') AS country_iso3,
       CAST(acquired AS date) AS day,
       round(sum(area_m2) / 10000.0, 2) AS scar_area_ha,
       count(DISTINCT site_id) AS sites
FROM detections
WHERE class = 'mining_scar' AND confidence >= ?
  AND dt BETWEEN ? AND ?
GROUP BY 1, 2
ORDER BY country_iso3, day

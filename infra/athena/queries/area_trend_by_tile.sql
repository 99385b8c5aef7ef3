-- Area trend per tile: mining-scar area (ha) on every clear date of every tile, with the valid (cloud-free) share that date.
-- @param min_confidence (double) = 0.5 : only detections at least this confident (0..1)
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
-- @param first_day (varchar) = 2015-06-23 : (the same window, for the tile runs)
-- @param last_day (varchar) = 2099-12-31 : (the same window, for the tile runs)
SELECT r.mgrs_tile, r.acquired, r.valid_fraction,
       coalesce(sum(d.area_m2), 0) / 10000.0 AS scar_area_ha,
       count(d.detection_id) AS scars
FROM tile_runs r
LEFT JOIN detections d
  ON d.item_id = r.item_id AND d.class = 'mining_scar' AND d.confidence >= ?
     AND d.dt BETWEEN ? AND ?
WHERE r.status = 'ok' AND r.dt BETWEEN ? AND ?
GROUP BY r.mgrs_tile, r.acquired, r.valid_fraction
ORDER BY r.mgrs_tile, r.acquired

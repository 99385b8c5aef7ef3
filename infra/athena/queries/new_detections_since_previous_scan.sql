-- New detections: mining scars on each tile's latest clear date with no scar within a distance on that tile's previous date.
-- @param max_shift_m (double) = 100 : a scar this close to one seen before is not new (metres)
-- @param first_day (varchar) = 2015-06-23 : first day of the window whose last two dates are compared, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
-- @param first_day (varchar) = 2015-06-23 : (the same window, for the latest scars)
-- @param last_day (varchar) = 2099-12-31 : (the same window, for the latest scars)
-- @param first_day (varchar) = 2015-06-23 : (the same window, for the previous scars)
-- @param last_day (varchar) = 2099-12-31 : (the same window, for the previous scars)
WITH params AS (SELECT ? AS max_shift_m),
dates AS (
  SELECT mgrs_tile, acquired,
         dense_rank() OVER (PARTITION BY mgrs_tile ORDER BY acquired DESC) AS recency
  FROM (SELECT DISTINCT mgrs_tile, acquired FROM tile_runs
        WHERE status = 'ok' AND dt BETWEEN ? AND ?)
),
latest AS (
  SELECT d.* FROM detections d
  JOIN dates t ON d.mgrs_tile = t.mgrs_tile AND d.acquired = t.acquired AND t.recency = 1
  WHERE d.class = 'mining_scar' AND d.dt BETWEEN ? AND ?
),
previous AS (
  SELECT d.* FROM detections d
  JOIN dates t ON d.mgrs_tile = t.mgrs_tile AND d.acquired = t.acquired AND t.recency = 2
  WHERE d.class = 'mining_scar' AND d.dt BETWEEN ? AND ?
)
SELECT l.mgrs_tile, l.acquired, l.detection_id, l.site_id, l.country_iso3,
       round(l.area_m2 / 10000.0, 2) AS area_ha, l.confidence, l.lon, l.lat
FROM latest l CROSS JOIN params
WHERE EXISTS (SELECT 1 FROM dates t WHERE t.mgrs_tile = l.mgrs_tile AND t.recency = 2)
  AND NOT EXISTS (
    SELECT 1 FROM previous p
    WHERE p.mgrs_tile = l.mgrs_tile
      AND abs(p.lat - l.lat) * 111320.0 <= params.max_shift_m
      AND abs(p.lon - l.lon) * 111320.0 * cos(radians(l.lat)) <= params.max_shift_m
  )
ORDER BY l.mgrs_tile, area_ha DESC

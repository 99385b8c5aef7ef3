-- Fastest-growing sites: detected area gained per 30 days between a site's first and latest detection.
-- @param min_detections (integer) = 2 : sites detected at least this many times
-- @param top (integer) = 20 : how many sites
SELECT s.site_id, s.mgrs_tile, s.country_iso3, s.state,
       round(min_by(o.area_m2, o.acquired) / 10000.0, 2) AS first_area_ha,
       round(max_by(o.area_m2, o.acquired) / 10000.0, 2) AS latest_area_ha,
       date_diff('day', min(o.acquired), max(o.acquired)) AS days,
       round((max_by(o.area_m2, o.acquired) - min_by(o.area_m2, o.acquired)) / 10000.0
             * 30.0 / greatest(date_diff('day', min(o.acquired), max(o.acquired)), 1), 3) AS ha_per_30_days
FROM sites s
JOIN site_observations o ON o.site_id = s.site_id AND o.detected
GROUP BY s.site_id, s.mgrs_tile, s.country_iso3, s.state
HAVING count(*) >= ?
ORDER BY ha_per_30_days DESC, s.site_id
LIMIT ?

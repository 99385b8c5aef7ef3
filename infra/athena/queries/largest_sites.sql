-- Largest sites: mining sites (scars and ponds grouped within 60 m) by total area, with where and when they were seen.
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
-- @param top (integer) = 20 : how many sites
SELECT site_id, mgrs_tile, country_iso3,
       min(acquired) AS first_seen, max(acquired) AS last_seen,
       round(sum(area_m2) / 10000.0, 2) AS area_ha,
       count_if(class = 'mining_scar') AS scars,
       count_if(class = 'pond') AS ponds,
       round(max(confidence), 3) AS confidence,
       round(avg(lon), 6) AS lon, round(avg(lat), 6) AS lat
FROM detections
WHERE site_id IS NOT NULL AND dt BETWEEN ? AND ?
GROUP BY site_id, mgrs_tile, country_iso3
ORDER BY area_ha DESC, site_id
LIMIT ?

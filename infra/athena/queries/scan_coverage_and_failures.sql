-- Coverage and failures: per status how many tile-dates, their valid (cloud-free) area, how many were cloud-limited, and the errors.
-- @param cloud_limited_below (double) = 0.5 : a tile-date with less valid share than this is cloud-limited
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
SELECT status,
       count(*) AS tile_dates,
       round(sum(coalesce(valid_area_km2, 0)), 2) AS valid_area_km2,
       count_if(valid_fraction < ?) AS cloud_limited,
       sum(detections) AS detections,
       array_join(array_agg(DISTINCT coalesce(error, '')), ' | ') AS errors
FROM tile_runs
WHERE dt BETWEEN ? AND ?
GROUP BY status
ORDER BY status

-- Coverage and failures: per status how many tile-dates, their valid (cloud-free) area, how many were cloud-limited, and the errors.
-- @param cloud_limited_below (double) = 0.5 : a tile-date with less valid share than this is cloud-limited
SELECT status,
       count(*) AS tile_dates,
       round(sum(coalesce(valid_area_km2, 0)), 2) AS valid_area_km2,
       count_if(valid_fraction < ?) AS cloud_limited,
       sum(detections) AS detections,
       array_join(array_agg(DISTINCT coalesce(error, '')), ' | ') AS errors
FROM tile_runs
GROUP BY status
ORDER BY status

-- Turbid water: sediment-laden river and lake reaches (class turbid_water), largest first, with their turbidity index.
-- @param min_area_ha (double) = 0.5 : reaches at least this large (ha)
-- @param first_day (varchar) = 2015-06-23 : first acquisition day, YYYY-MM-DD
-- @param last_day (varchar) = 2099-12-31 : last acquisition day, YYYY-MM-DD
SELECT mgrs_tile, acquired, detection_id, country_iso3,
       round(area_m2 / 10000.0, 2) AS area_ha,
       round(ndti_mean, 4) AS ndti_mean,
       confidence, lon, lat
FROM detections
WHERE class = 'turbid_water' AND area_m2 >= ? * 10000.0
  AND dt BETWEEN ? AND ?
ORDER BY area_ha DESC, detection_id

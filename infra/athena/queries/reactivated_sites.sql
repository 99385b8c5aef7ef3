-- Reactivated sites: sites detected again after being inactive (missed on consecutive clear looks), with the date work resumed.
-- @param since_day (varchar) = 2015-06-23 : reactivations on or after this day, YYYY-MM-DD
SELECT o.site_id, o.mgrs_tile, s.country_iso3, o.acquired AS reactivated_on,
       round(o.area_m2 / 10000.0, 2) AS area_ha, s.lon, s.lat
FROM site_observations o
JOIN sites s ON s.site_id = o.site_id
WHERE o.state = 'reactivated'
  AND CAST(CAST(o.acquired AS date) AS varchar) >= ?
ORDER BY reactivated_on DESC, o.site_id

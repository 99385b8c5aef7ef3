-- New sites by country and quarter: sites first detected in each quarter, with their area when first seen.
-- @param since_day (varchar) = 2015-06-23 : only sites first seen on or after this day, YYYY-MM-DD
SELECT coalesce(s.country_iso3, 'none') AS country_iso3,
       concat(CAST(year(s.first_seen) AS varchar), '-Q', CAST(quarter(s.first_seen) AS varchar)) AS quarter,
       count(*) AS new_sites,
       round(sum(o.area_m2) / 10000.0, 2) AS area_ha_when_found
FROM sites s
JOIN site_observations o ON o.site_id = s.site_id AND o.acquired = s.first_seen
WHERE CAST(CAST(s.first_seen AS date) AS varchar) >= ?
GROUP BY 1, 2
ORDER BY quarter, new_sites DESC, country_iso3

"""Validated city data: the tables a city brings (districts, communities, outlets, candidate sites,
circle centres, circles, surveys, streets), their schema, and the embedded store."""

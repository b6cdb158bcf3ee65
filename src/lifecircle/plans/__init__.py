"""Plans: delineate circles, recommend sites, one plan per circle, scenarios."""

"""One reader per source kind. Each yields records (cvalues_build.core.records) and raises
SourceError naming file:line and field for a row it cannot use."""

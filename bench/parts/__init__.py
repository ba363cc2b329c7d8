"""The benchmark's parts, one folder each; bench.catalog lists them in report order."""

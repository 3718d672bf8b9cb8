"""The data validation gate between ExampleValidator and Transform (curated schema, drift)."""

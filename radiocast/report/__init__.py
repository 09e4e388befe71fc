"""Reports: what aired, per station, month, half-year and year (the data), and its files in
Vietnamese (CSV, JSON, Markdown, XLSX, PDF)."""

"""The kernel everything uses: errors and exit codes, states and value types, names, words in
Vietnamese and English, months, crash-safe files, notes and receipts; it imports nothing of
radiocast above it."""

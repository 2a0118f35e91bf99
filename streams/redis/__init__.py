"""The Redis side: exact budgets and caps (`limits`), the served scores (`scores`), model snapshots (`snapshots`)."""

"""Named metrics: each turns model outputs into per-sample sufficient statistics and aggregates them."""

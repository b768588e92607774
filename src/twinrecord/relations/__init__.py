"""Relations: BelongsTo / HasOne / HasMany declarations and eager-loading plans."""

"""Analytics of tracked road users in one camera: count lines, zones, turning movements, speeds, intervals."""

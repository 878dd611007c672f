// Filled by the data layer.

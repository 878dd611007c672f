// Filled by the models layer.

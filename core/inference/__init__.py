"""Using trained weights: evaluation (accuracy, confusion), loading a trained model to evaluate or predict,
and exporting weights as safetensors."""

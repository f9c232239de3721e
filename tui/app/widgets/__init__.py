"""Widgets of the app: the confusion matrix heatmap, epoch curves, the progress panel."""

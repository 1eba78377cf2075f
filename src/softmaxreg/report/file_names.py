"""The names of a run report's files: the HTML page and one PNG per figure.

Kept apart from ``write.py`` so that code that only needs the names (the CLI removing an
earlier run's report) does not load the plotting modules.
"""

REPORT_FILE = "report.html"
FIGURE_FILES = {
    "loss_curve": "loss_curve.png",
    "weight_templates": "weight_templates.png",
    "confusion_matrix": "confusion_matrix.png",
    "confusion_matrix_normalized": "confusion_matrix_normalized.png",
    "misclassified": "misclassified.png",
    "decision_regions": "decision_regions.png",
    "reliability": "reliability.png",
    "coefficients": "coefficients.png",
}

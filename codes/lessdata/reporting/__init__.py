"""From numbers to words and pictures: REPORT.md's sections and the figures."""

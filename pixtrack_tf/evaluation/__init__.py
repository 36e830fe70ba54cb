"""Evaluation: metrics (Eq. 3, ROC, DAVIS J/F), the test protocol (clips of 20/40/80/160 frames)
that writes raw per-sequence results, and the evaluator that turns them into Tables 2 and 3."""

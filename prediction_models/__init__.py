"""Trained model files (joblib) and the pipeline's schedule, ``prediction_schedule.json``."""

"""Pure machine-learning code (scikit-learn, numpy, pandas, scipy, skops): no database, HTTP or Celery."""

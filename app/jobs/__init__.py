"""The job system: job rows with leases and fencing tokens, two executors behind one queue
interface (in-process threads, or Celery by task name), and the reconciler."""

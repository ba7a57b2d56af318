"""The thin Airflow layer of mlmonitor: connections to engines, task bodies, the DAG factory."""

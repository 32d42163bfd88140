"""Every write of the reporting app: data sources and templates, executions, outputs."""

"""The local runtime: the parts of AWS that moto does not run (stream pollers, the
schedule, API Gateway's proxy events), driven from template.yaml."""

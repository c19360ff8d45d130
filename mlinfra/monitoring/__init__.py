"""Alert rules and dashboards as plain data, rendered for Prometheus (EKS) and AMP (ECS)."""

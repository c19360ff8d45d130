"""Alert rules (`alerts`, `slo`), Alertmanager routing (`routing`, `eks`) and Grafana
dashboards (`dashboards`), as plain data rendered for Prometheus/Alertmanager (EKS) and AMP (ECS)."""

"""`mlinfra init`: a new team's project, ready to plan offline (templates in templates/)."""

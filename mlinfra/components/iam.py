"""IAM trust documents both platforms use (who may assume a role)."""

from __future__ import annotations

import json


def assume_role_policy(service: str) -> str:
    """Trust for an AWS service principal (`eks.amazonaws.com`, `ec2.amazonaws.com`)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def ecs_tasks_trust(account_id: str, region: str) -> str:
    """Only ECS tasks of this account and region may assume the role (confused-deputy guard)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{region}:{account_id}:*"},
                    },
                }
            ],
        },
        sort_keys=True,
    )
